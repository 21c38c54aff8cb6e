"""The DynamoDB tables of the AWS runtime: key schema, indexes, stream and TTL (DESIGN.md §9).

Pure data, no boto3: ``interlock aws create-tables``, the CloudFormation template and the
Terraform module all build the same two tables from these names.

Control table (``PK``/``SK``, stream NEW_AND_OLD_IMAGES, TTL on ``expires``):

=========================  ============================  ==========================================
PK                         SK                            what
=========================  ============================  ==========================================
``INTERLOCK``              ``CONFIGS``                   registry: current hash of every pipeline
``PIPELINE#<id>``          ``CONFIG``                    the current config (document inline)
``PIPELINE#<id>``          ``CONFIG#<hash>``             every applied config version
``PIPELINE#<id>``          ``SENSOR``                    the pipeline's sensor version counter
``PIPELINE#<id>``          ``SENSOR#<key>``              a sensor (Go-era raw items: ``data`` map)
``PIPELINE#<id>``          ``RUN#<period>``              a run record
``PIPELINE#<id>``          ``RERUN#<period>#<n>``        the rerun ledger (n zero-padded)
``PIPELINE#<id>``          ``RERUNSEQ#<period>``         the ledger's seq counter (ADD)
``PIPELINE#<id>``          ``MARK#<name>``               a put-if-absent marker
``PIPELINE#<id>``          ``RERUN_REQUEST#…``           Go-era rerun requests (stream router)
=========================  ============================  ==========================================

Index ``GSI1`` (``GSI1PK``/``GSI1SK``, sparse, all attributes): ``SENSORS``/``<id>`` on counter
items (``sensor_versions``), ``RUNS#<status>``/``<period>#<id>`` on runs (listing by status
across pipelines), ``MARKS``/``<expires>#…`` on expiring markers (purge).

Index ``DUE`` (``DUEPK``/``DUESK``, sparse): runs with a due time,
``DUE``/``<due_at>#<id>#<period>``, so ``due_runs`` is one Query of the due partition up to
``now`` instead of a Scan (one partition: enough for thousands of runs in flight).

Events table (``PK`` = ``PIPELINE#<id>`` — ``PIPELINE#`` for events about Interlock itself —,
``SK`` = ``<at>#<event id>``, stream NEW_IMAGE, TTL on ``expires``), index ``TYPE``
(``type``/``SK``): by pipeline and time, by type and time.
"""

from typing import Any

CONTROL_KEY = ("PK", "SK")
GSI1 = "GSI1"
DUE_INDEX = "DUE"
TYPE_INDEX = "TYPE"
TTL_ATTRIBUTE = "expires"


def _key(hash_name: str, range_name: str) -> list[dict[str, str]]:
    return [
        {"AttributeName": hash_name, "KeyType": "HASH"},
        {"AttributeName": range_name, "KeyType": "RANGE"},
    ]


def _strings(*names: str) -> list[dict[str, str]]:
    return [{"AttributeName": name, "AttributeType": "S"} for name in names]


def control_table_definition(name: str) -> dict[str, Any]:
    """``CreateTable`` arguments of the control table (on-demand billing)."""
    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": _key("PK", "SK"),
        "AttributeDefinitions": _strings("PK", "SK", "GSI1PK", "GSI1SK", "DUEPK", "DUESK"),
        "GlobalSecondaryIndexes": [
            {
                "IndexName": GSI1,
                "KeySchema": _key("GSI1PK", "GSI1SK"),
                "Projection": {"ProjectionType": "ALL"},
            },
            {
                "IndexName": DUE_INDEX,
                "KeySchema": _key("DUEPK", "DUESK"),
                "Projection": {"ProjectionType": "ALL"},
            },
        ],
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    }


def events_table_definition(name: str) -> dict[str, Any]:
    """``CreateTable`` arguments of the events table (on-demand billing)."""
    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": _key("PK", "SK"),
        "AttributeDefinitions": _strings("PK", "SK", "type"),
        "GlobalSecondaryIndexes": [
            {
                "IndexName": TYPE_INDEX,
                "KeySchema": _key("type", "SK"),
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    }
