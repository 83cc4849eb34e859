"""Settings for the worker processes tests start (db_worker, the sweeper, a shell): the test
settings, on the database DATABASE_URL names, with SMTPCONFIG options from the JSON in
SMTPCONFIG_TEST_OPTIONS."""

import json
import os

from tests.settings import *  # noqa: F403
from tests.settings import SMTPCONFIG

SMTPCONFIG = {**SMTPCONFIG, **json.loads(os.environ.get("SMTPCONFIG_TEST_OPTIONS", "{}"))}
# The worker's log lines (claims, failures) go to stderr, where a failing test shows them.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"smtpconfig": {"handlers": ["console"], "level": "INFO"}},
}
