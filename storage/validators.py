"""Field validation whose messages say what to fix."""
from __future__ import annotations

import re
from datetime import timedelta

from django.core.exceptions import ValidationError

_S3_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IPV4 = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")


def validate_s3_bucket(name: str) -> None:
    """The S3 bucket naming rules (which also bind GCS and most S3-compatible stores)."""
    problems = []
    if not 3 <= len(name) <= 63:
        problems.append("be 3 to 63 characters long")
    if not _S3_BUCKET.match(name):
        problems.append("use only lowercase letters, digits, '.' and '-', and start and end with a letter or digit")
    if ".." in name:
        problems.append("not contain two adjacent periods")
    if _IPV4.match(name):
        problems.append("not look like an IP address")
    if name.startswith("xn--") or name.endswith("-s3alias") or name.endswith("--ol-s3"):
        problems.append("not start with 'xn--' or end with '-s3alias' / '--ol-s3'")
    if problems:
        raise ValidationError(f"'{name}' is not a valid bucket name: a bucket name must " + "; ".join(problems) + ".")


_AZURE_CONTAINER = re.compile(r"^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$")


def validate_azure_container(name: str) -> None:
    if not _AZURE_CONTAINER.match(name):
        raise ValidationError(
            f"'{name}' is not a valid Azure container name: use 3 to 63 lowercase letters, digits and "
            "single '-', starting and ending with a letter or digit."
        )


_DURATION = re.compile(r"^\s*(\d+)\s*(h|d|w|mo|y)\s*$")
_UNIT_DAYS = {"d": 1, "w": 7, "mo": 30, "y": 365}


def parse_duration(text: str) -> timedelta:
    """'36h', '30d', '2w', '6mo', '1y' → timedelta (KubeStash's maxRetentionPeriod)."""
    m = _DURATION.match(text or "")
    if not m:
        raise ValidationError(
            f"'{text}' is not a retention period: write a number and a unit, h (hours), d (days), "
            "w (weeks), mo (months) or y (years), e.g. 30d."
        )
    n, unit = int(m.group(1)), m.group(2)
    if n == 0:
        raise ValidationError("A retention period of 0 keeps nothing: use at least 1h, or leave it empty for no limit.")
    if unit == "h":
        return timedelta(hours=n)
    return timedelta(days=n * _UNIT_DAYS[unit])


def validate_duration(text: str) -> None:
    if text:
        parse_duration(text)


def normalize_directory(path: str) -> str:
    """A repository directory as KubeStash's documents write it (`/es/demo`, absolute in
    the backend) is the same directory as ours (`es/demo`, relative to the storage)."""
    return path.strip().strip("/") if path.strip() not in ("", "/") else path


def validate_prefix(prefix: str) -> None:
    if prefix.startswith("/") or prefix.endswith("/") and prefix != "":
        raise ValidationError("Write the prefix without a leading or trailing '/', e.g. backups/prod.")
    if any(part in ("", ".", "..") for part in prefix.split("/")) and prefix:
        raise ValidationError("The prefix must not contain empty, '.' or '..' parts.")
