"""Searching the delivery log, in SQL that PostgreSQL's indexes serve at millions of rows.

A search is words (Django's admin splitting: quotes keep words together); a row
matches when it matches every word. A word is looked for

- when it is an address or a Message-ID (``name@host``, ``<id@host>``): as a
  whole address among the recipients or in the sender, or as the Message-ID
  itself, with or without its angle brackets;
- otherwise: in the recipients, the Message-ID, the subject or the sender.

On PostgreSQL (migration 0017 makes the indexes) a whole address is found
through a full-text index of the recipients and sender, whose parser keeps an
address as one word, and checked with ``ILIKE``; a Message-ID through a hash
index; any other word with ``ILIKE`` through trigram indexes (pg_trgm). A
trigram index alone was not enough for an address: the trigrams every address
shares (``com``, ``exa``, the domain's) made it read most of the index, 160 ms
at a million rows, where the word index reads one entry. Elsewhere (SQLite)
each word is Django's ``icontains`` (and the Message-ID an equality), which
reads the table: correct, and fast enough for the tables SQLite holds.
"""

from __future__ import annotations

import re

from django.db import connections, models
from django.db.models.lookups import IContains
from django.utils.text import smart_split, unescape_string_literal

#: The columns a word is looked for in.
SEARCHED_FIELDS = ("recipients", "message_id", "subject", "sender")
#: An address or a Message-ID: one ``@``, a dotted host, nothing that splits words,
#: maybe ``<…>``. (``alice@gmail`` is no address: the full-text parser splits it.)
_ADDRESS = re.compile(r"<?[^\s<>@,]+@[^\s<>@,.]+(\.[^\s<>@,.]+)+>?")
#: The full-text configuration of the word index (migration 0017 indexes exactly
#: ``to_tsvector('simple'::regconfig, recipients || ' ' || sender)``): no stemming.
WORDS_CONFIG = "simple"


class ILike(IContains):
    """``field__ilike="text"``: contains ``text``, ignoring case, in a form an index serves.

    Django's ``icontains`` is ``UPPER(col::text) LIKE UPPER(…)`` on PostgreSQL, which
    a trigram index on the column cannot serve; this is ``col ILIKE …``, the same
    match (with ``%``, ``_`` and ``\\`` escaped), which it can. Elsewhere it is
    ``icontains``.
    """

    lookup_name = "ilike"

    def as_sql(self, compiler, connection):
        return compiler.compile(IContains(self.lhs, self.rhs))

    def as_postgresql(self, compiler, connection):
        if not self.rhs_is_direct_value():
            return self.as_sql(compiler, connection)
        lhs_sql, lhs_params = self.process_lhs(compiler, connection)
        rhs_sql, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs_sql} ILIKE {rhs_sql}", (*lhs_params, *rhs_params)


class HasAddress(models.Expression):
    """PostgreSQL: ``address`` is a word of the recipients or the sender (the full-text
    index finds the rows) and contained in them (``ILIKE`` checks it)."""

    conditional = True
    output_field = models.BooleanField()

    def __init__(self, address: str):
        super().__init__(output_field=models.BooleanField())
        self.address = address
        self.columns = [models.F("recipients"), models.F("sender")]

    def get_source_expressions(self):
        return self.columns

    def set_source_expressions(self, expressions):
        self.columns = list(expressions)

    def as_sql(self, compiler, connection):
        compiled = [compiler.compile(column) for column in self.columns]
        text = " || ' ' || ".join(sql for sql, _ in compiled)
        params = [param for _, column_params in compiled for param in column_params]
        pattern = f"%{connection.ops.prep_for_like_query(self.address)}%"
        return (
            f"(to_tsvector('{WORDS_CONFIG}'::regconfig, {text}) @@ "
            f"plainto_tsquery('{WORDS_CONFIG}'::regconfig, %s) AND ({text}) ILIKE %s)",
            (*params, self.address, *params, pattern),
        )


def words(text: str) -> list[str]:
    """The words of a search as Django's admin splits them (quotes keep words together)."""
    found = []
    for word in smart_split(text):
        if word[:1] in {'"', "'"} and word[-1:] == word[:1]:
            word = unescape_string_literal(word)
        if word:
            found.append(word)
    return found


def word_condition(word: str, database: str) -> models.Q:
    """The rows that match one search word."""
    if _ADDRESS.fullmatch(word):
        bare = word.strip("<>")
        message_id = models.Q(message_id__in=[bare, f"<{bare}>"])
        if connections[database].vendor == "postgresql":
            return models.Q(HasAddress(bare)) | message_id
        return models.Q(recipients__icontains=bare) | models.Q(sender__icontains=bare) | message_id
    condition = models.Q()
    for name in SEARCHED_FIELDS:
        condition |= models.Q(**{f"{name}__ilike": word})
    return condition


class DeliveryLogQuerySet(models.QuerySet):
    def search(self, text: str) -> DeliveryLogQuerySet:
        """The rows that match every word of ``text`` (see the module's docstring)."""
        queryset = self
        for word in words(text):
            queryset = queryset.filter(word_condition(word, self.db))
        return queryset
