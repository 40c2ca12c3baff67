"""Members of a zip archive, decompressed with a bound: inspect_ai's `.eval` logs.

A `.eval` log is a zip of JSON parts (`header.json`, `summaries.json`,
`samples/<id>_epoch_<n>.json`, ...). inspect_ai writes them zstd-compressed since
0.3.1xx (ZIP method 93, which Python's zipfile cannot read before 3.14) and
deflated before. A zip states its members' sizes, but a hostile or broken archive
can lie, so every member is decompressed here with a hard limit on its output and
on the archive's total: a zip bomb ends in one error line, never in a machine out of
memory. Only the central directory is parsed by `zipfile`; the member data is read
and decompressed here, which also checks each member's CRC.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Iterator

import zstandard

from .base import ImportFormatError

MEMBER_LIMIT = 256 * 1024 * 1024
ARCHIVE_LIMIT = 1024 * 1024 * 1024
_STORED, _DEFLATED, _ZSTANDARD = 0, 8, 93
_LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature ... name length, extra length
_LOCAL_SIGNATURE = b"PK\x03\x04"
_CHUNK = 1024 * 1024


def is_zip(raw: bytes) -> bool:
    return raw.startswith(_LOCAL_SIGNATURE)


class ZipLog:
    """The members of one zip archive held in memory (`raw`), read on demand."""

    def __init__(self, raw: bytes, file: str) -> None:
        self.raw = raw
        self.file = file
        self.budget = ARCHIVE_LIMIT
        try:
            archive = zipfile.ZipFile(io.BytesIO(raw))
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as error:
            raise ImportFormatError(f"{file}: not a readable zip archive ({error})") from None
        self.members = {info.filename: info for info in archive.infolist()}

    def names(self) -> Iterator[str]:
        return iter(self.members)

    def __contains__(self, name: str) -> bool:
        return name in self.members

    def read(self, name: str) -> bytes:
        """One member's content, decompressed within the limits."""
        info = self.members[name]
        where = f"{self.file}: member '{name}'"
        if info.flag_bits & 0x1:
            raise ImportFormatError(f"{where} is encrypted")
        start = info.header_offset
        header = self.raw[start : start + _LOCAL_HEADER.size]
        if len(header) < _LOCAL_HEADER.size:
            raise ImportFormatError(f"{where}: the archive is cut short")
        signature, name_length, extra_length = _LOCAL_HEADER.unpack(header)
        if signature != _LOCAL_SIGNATURE:
            raise ImportFormatError(f"{where}: no local file header (a corrupt archive)")
        begin = start + _LOCAL_HEADER.size + name_length + extra_length
        data = self.raw[begin : begin + info.compress_size]
        if len(data) < info.compress_size:
            raise ImportFormatError(f"{where}: the archive is cut short")
        limit = min(MEMBER_LIMIT, self.budget)
        content = self._decompress(info.compress_type, data, limit, where)
        if len(content) > limit:
            what = "the archive's" if limit < MEMBER_LIMIT else "a member's"
            raise ImportFormatError(
                f"{where} decompresses to more than {what} limit of {limit // 2**20} MiB "
                "(refused: a zip bomb or a broken log)"
            )
        if zlib.crc32(content) != info.CRC:
            raise ImportFormatError(f"{where}: CRC mismatch (a corrupt archive)")
        self.budget -= len(content)
        return content

    @staticmethod
    def _decompress(method: int, data: bytes, limit: int, where: str) -> bytes:
        """At most `limit` + 1 bytes of the member: one byte over says "too large"."""
        try:
            if method == _STORED:
                return data[: limit + 1]
            if method == _DEFLATED:
                return zlib.decompressobj(-zlib.MAX_WBITS).decompress(data, limit + 1)
            if method == _ZSTANDARD:
                reader = zstandard.ZstdDecompressor().stream_reader(data, read_across_frames=True)
                parts: list[bytes] = []
                size = 0
                while size <= limit:
                    part = reader.read(min(_CHUNK, limit + 1 - size))
                    if not part:
                        break
                    parts.append(part)
                    size += len(part)
                return b"".join(parts)
        except (zlib.error, zstandard.ZstdError) as error:
            raise ImportFormatError(f"{where}: cannot decompress ({error})") from None
        raise ImportFormatError(
            f"{where}: compression method {method} is not supported (stored, deflate or zstd)"
        )
