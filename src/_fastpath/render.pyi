from typing import Collection, Optional, Sequence

import numpy as np
import numpy.typing as npt

class CompiledTemplate:
    path: object
    literals: list[bytes]
    slots: list[str]
    unknown_tags: dict[str, list[int]]
    mode: int
    def __init__(
        self, path: object, literals: list[bytes], slots: list[str],
        unknown_tags: dict[str, list[int]], mode: int,
    ) -> None: ...
    @property
    def used_params(self) -> list[str]: ...
    def render(self, params: dict[str, str]) -> bytes: ...

def compile_template(
    data: bytes, delimiter: bytes, known_names: Collection[str], path: object = ..., mode: int = ...
) -> CompiledTemplate: ...
def render_members(
    templates: list[CompiledTemplate],
    out_names: list[bytes],
    member_dirs: list[bytes],
    index: npt.NDArray[np.int32],
    slot_columns: list[list[int]],
    value_table: list[list[bytes]],
    subdirs: Optional[list[bytes]] = ...,
    extra_contents: Optional[list[bytes]] = ...,
    extra_name: Optional[bytes] = ...,
    make_dirs: bool = ...,
) -> int: ...
