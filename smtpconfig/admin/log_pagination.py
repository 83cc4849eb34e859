"""Pages of a list too long to count on every page view: the delivery log's.

``COUNT(*)`` reads every row (on PostgreSQL, every row visible to the
transaction); at a million rows that alone was most of the page's time. So the
whole log is estimated from the planner's statistics on PostgreSQL, and a
filtered or searched list is counted up to ``CAP`` rows and said to have "more
than" that beyond it. The template says which (``count_is_estimate``,
``count_is_capped``): a number shown is never passed off as exact.
"""

from __future__ import annotations

from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property

#: A filtered list is counted up to this many rows; pages go as far as it.
CAP = 10_000


class EstimatedCountPaginator(Paginator):
    """Django's paginator, with a count that reads at most ``CAP`` + 1 rows."""

    count_is_estimate = False
    count_is_capped = False

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not queryset.query.has_filters():
            estimate = table_estimate(queryset.model, queryset.db)
            if estimate is not None and estimate > CAP:
                self.count_is_estimate = True
                return estimate
        # No ORDER BY: with one, PostgreSQL may walk the time index to find CAP matches
        # rather than take them from a search's index.
        counted = queryset.order_by()[: CAP + 1].count()
        if counted > CAP:
            self.count_is_capped = True
            return CAP
        return counted


def table_estimate(model, database: str) -> int | None:
    """The planner's row count for ``model``'s table on PostgreSQL (None elsewhere, or
    before the table was first analysed)."""
    connection = connections[database]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)",
            [connection.ops.quote_name(model._meta.db_table)],
        )
        row = cursor.fetchone()
    if row is None or row[0] < 0:  # -1: never vacuumed or analysed
        return None
    return row[0]
