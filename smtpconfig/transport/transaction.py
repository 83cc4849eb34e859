"""One mail transaction (MAIL, RCPT, DATA, the message), pipelined where the server offers it.

Over a network each command is a round trip, and a message costs four of
them (MAIL, RCPT, DATA, the message). A server that advertises PIPELINING
(RFC 2920: Postfix, Gmail and Microsoft 365 do) takes ``MAIL FROM``, every
``RCPT TO`` and ``DATA`` in one write and answers them together, so a
message costs two. :meth:`MailTransactionMixin.sendmail` does that, with
smtplib's contract: the same exceptions, the dict of refused recipients,
``RSET`` after a refusal so that the connection carries the next message.
Without PIPELINING it is smtplib's exchange, a command at a time.

Whichever way, :attr:`~MailTransactionMixin.payload_sent` says whether the
server may have the message: failover and the outbox's retry rest on it.
"""

from __future__ import annotations

import smtplib

#: Commands one write carries at most: a client that writes without reading can deadlock
#: against a server whose replies fill the window (RFC 2920, section 3.1). 100 commands
#: are a few KiB each way, far inside any TCP window; a message with more recipients
#: goes out in several writes, each read before the next.
MAX_PIPELINED_COMMANDS = 100

# Replies of a recipient the server takes (smtplib's test).
_ACCEPTED = (250, 251)


class MailTransactionMixin:
    """Sends a message as one mail transaction, and knows whether the server may have it.

    :attr:`payload_sent` turns true when the message itself starts to go
    out, after the server's 354 reply to DATA: from then on a broken
    connection may have left the message with the server, so it is no reason
    to send it again elsewhere. Before then the server cannot have it (it
    keeps a message only once the final "." has arrived), whatever it was
    sent: with pipelining, DATA goes out with MAIL and RCPT, before the
    server has answered any of them.
    """

    #: Whether :meth:`sendmail` pipelines the envelope when the server offers PIPELINING.
    pipelining = True
    #: Whether the message (not only the envelope) may have reached the server.
    payload_sent = False
    #: The command a failure happened at ("mail", "rcpt", "data"...), to name the step:
    #: the last one sent, or with pipelining the one whose reply was being read.
    last_command = ""
    #: The server's final reply to the last message, as (code, text).
    last_data_reply: tuple[int, bytes] | None = None

    def putcmd(self, cmd, args=""):
        self.last_command = cmd.lower()
        return super().putcmd(cmd, args)

    def mail(self, sender, options=()):
        self.payload_sent = False
        return super().mail(sender, options)

    def data(self, msg):
        """smtplib's DATA: raises ``SMTPDataError`` unless the server answers 354."""
        self.putcmd("data")
        code, reply = self.getreply()
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        return self._send_message(msg)

    def _send_message(self, msg) -> tuple[int, bytes]:
        """After a 354: the message, dot-stuffed and ended by ".", then the final reply."""
        if isinstance(msg, str):
            msg = smtplib._fix_eols(msg).encode("ascii")
        quoted = smtplib._quote_periods(msg)
        if not quoted.endswith(b"\r\n"):
            quoted += b"\r\n"
        self.payload_sent = True
        self.send(quoted + b".\r\n")
        self.last_data_reply = self.getreply()
        return self.last_data_reply

    def offers_pipelining(self) -> bool:
        """Whether this connection pipelines: the server said PIPELINING in its EHLO reply."""
        return self.pipelining and self.does_esmtp and self.has_extn("pipelining")

    def sendmail(self, from_addr, to_addrs, msg, mail_options=(), rcpt_options=()):
        """smtplib's ``sendmail``, with the envelope pipelined when the server offers it."""
        self.payload_sent = False
        self.ehlo_or_helo_if_needed()
        if not self.offers_pipelining():
            return super().sendmail(from_addr, to_addrs, msg, mail_options, rcpt_options)
        if isinstance(msg, str):
            msg = smtplib._fix_eols(msg).encode("ascii")
        if isinstance(to_addrs, str):
            to_addrs = [to_addrs]
        options = [f"size={len(msg)}"] if self.has_extn("size") else []
        options.extend(mail_options)
        commands = [("mail", self._mail_line(from_addr, options))]
        commands += [("rcpt", self._rcpt_line(address, rcpt_options)) for address in to_addrs]
        commands.append(("data", "DATA\r\n"))
        replies = self._pipeline(commands)

        code, reply = replies[0]
        data_reply = replies[-1] if len(replies) == len(commands) else None
        if code != 250:
            self._abandon(data_reply)
            raise smtplib.SMTPSenderRefused(code, reply, from_addr)
        answers = replies[1 : 1 + len(to_addrs)]
        refused = {
            address: answer
            for address, answer in zip(to_addrs, answers, strict=False)
            if answer[0] not in _ACCEPTED
        }
        if len(answers) < len(to_addrs) or len(refused) == len(to_addrs):
            # A 421 to a recipient closed the connection, or every recipient was refused.
            self._abandon(data_reply)
            raise smtplib.SMTPRecipientsRefused(refused)
        code, reply = data_reply
        if code != 354:
            self._abandon(data_reply)
            raise smtplib.SMTPDataError(code, reply)
        self.last_command = "data"
        code, reply = self._send_message(msg)
        if code != 250:
            self._abandon(None)
            raise smtplib.SMTPDataError(code, reply)
        return refused

    def _pipeline(self, commands: list[tuple[str, str]]) -> list[tuple[int, bytes]]:
        """Send ``commands`` in writes of :data:`MAX_PIPELINED_COMMANDS`, reading the replies
        to each write before the next; each reply within the timeout and the budget, read
        as safely as any. Stops early when the server closes (421) or refuses the sender."""
        replies: list[tuple[int, bytes]] = []
        for start in range(0, len(commands), MAX_PIPELINED_COMMANDS):
            group = commands[start : start + MAX_PIPELINED_COMMANDS]
            self.last_command = group[0][0]
            self.send("".join(line for _kind, line in group))
            for kind, _line in group:
                self.last_command = kind
                replies.append(self.getreply())
                if replies[-1][0] == 421:
                    self.close()  # the server is closing the connection: no more replies
                    return replies
            if replies[0][0] != 250:
                return replies  # no transaction: the rest would only be refused
        return replies

    def _abandon(self, data_reply: tuple[int, bytes] | None) -> None:
        """End a transaction that will carry no message, keeping the connection if it can."""
        if self.sock is None:
            return
        if data_reply is not None and data_reply[0] == 354:
            # The server took DATA after refusing the envelope (RFC 2920 forbids it): only a
            # message would end that state, and none is sent. The connection is dropped.
            self.close()
        elif data_reply is not None and data_reply[0] == 421:
            self.close()
        else:
            self._rset()

    def _mail_line(self, sender: str, options) -> str:
        # smtplib's mail(), without waiting for the reply.
        if any(option.lower() == "smtputf8" for option in options):
            if not self.has_extn("smtputf8"):
                raise smtplib.SMTPNotSupportedError("SMTPUTF8 not supported by server")
            self.command_encoding = "utf-8"
        return _line("MAIL", f"FROM:{smtplib.quoteaddr(sender)}", options)

    def _rcpt_line(self, recipient: str, options) -> str:
        return _line("RCPT", f"TO:{smtplib.quoteaddr(recipient)}", options)


def _line(command: str, argument: str, options) -> str:
    """One command line as smtplib's ``putcmd`` writes it (and refuses: no CR or LF inside)."""
    text = " ".join([command, argument, *options])
    if "\r" in text or "\n" in text:
        text = text.replace("\n", "\\n").replace("\r", "\\r")
        raise ValueError(f"command and arguments contain prohibited newline characters: {text}")
    return text + "\r\n"
