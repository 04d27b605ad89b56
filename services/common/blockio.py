"""A file read and seeked a block at a time, the one block in hand kept: what a sealed
roster (decrypted a chunk at a time) and an object in S3 (one ranged GET a block) share."""

from __future__ import annotations

import io


class BlockReader(io.RawIOBase):
    """Subclasses say how big the whole is and how to get block ``index``."""

    def __init__(self, size: int, block: int) -> None:
        super().__init__()
        self._size, self._block = size, block
        self._pos = 0
        self._cached: tuple[int, bytes] | None = None

    def read_block(self, index: int) -> bytes:
        raise NotImplementedError

    def _block_at(self, index: int) -> bytes:
        if self._cached is None or self._cached[0] != index:
            self._cached = (index, self.read_block(index))
        return self._cached[1]

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer) -> int:
        if self._pos >= self._size:
            return 0
        index, start = divmod(self._pos, self._block)
        piece = self._block_at(index)[start : start + len(buffer)]
        buffer[: len(piece)] = piece
        self._pos += len(piece)
        return len(piece)

    def close(self) -> None:
        self._cached = None
        super().close()
