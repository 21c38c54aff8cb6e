"""Store URLs fit to print: the password of a URL never reaches a message or a log."""

from urllib.parse import parse_qsl, urlencode, urlsplit

_SECRET_PARAMETERS = frozenset({"password", "sslpassword", "passfile_password"})
REDACTED = "***"


def redact_url(url: str) -> str:
    """``url`` with its password (in the user part or a ``password=`` parameter) replaced.

    >>> redact_url("postgresql://app:s3cret@db:5432/airflow?schema=interlock")
    'postgresql://app:***@db:5432/airflow?schema=interlock'
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable store URL>"
    netloc = parts.netloc
    userinfo, at, hosts = netloc.rpartition("@")
    if at and ":" in userinfo:
        netloc = f"{userinfo.partition(':')[0]}:{REDACTED}@{hosts}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(name.lower() in _SECRET_PARAMETERS for name, _ in pairs):
            query = urlencode(
                [
                    (name, REDACTED if name.lower() in _SECRET_PARAMETERS else value)
                    for name, value in pairs
                ],
                safe="*",
            )
    if netloc == parts.netloc and query == parts.query:
        return url  # nothing secret: exactly as given
    # Built by hand: urlunsplit drops the "//" of a URL without a host.
    return (
        f"{parts.scheme}://{netloc}{parts.path}"
        + (f"?{query}" if query else "")
        + (f"#{parts.fragment}" if parts.fragment else "")
    )
