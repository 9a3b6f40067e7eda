"""``Experiment.generate``: the directory layout, copied/symlinked files, rendered templates.

Everything is checked before the first directory is written (entity types, name
collisions, attached files, template encodings, existing directories, and that every path
to be removed or written resolves inside the experiment directory), so bad input never
leaves a half-generated experiment and never touches anything outside it. Templates are
compiled once per (file set, parameter names) and rendered for all members of an ensemble
in one call into ``_fastpath.render``.
"""
from __future__ import annotations

import os
import shutil
import typing as t
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime

import numpy as np

from _fastpath import render

from ...entity.ensemble import Ensemble, EnsembleMember
from ...entity.files import PARAMS_LOG_NAME, EntityFiles
from ...entity.model import Model
from ...error import (EntityExistsError, EntityTypeError, GenerationError, GeneratorFileExistsError,
                      GeneratorFileNotFoundError, ParameterWriterError)
from ...log import get_logger
from ..control.progress import ProgressBar, progress_wanted
from . import paramlog

logger = get_logger(__name__)

_TEMPLATE_SNIFF = 1 << 16
# members rendered per call into the C core: large enough to amortise the call, small
# enough for the progress bar to move smoothly
_RENDER_CHUNK = 2048


class _TemplateSet(t.NamedTuple):
    compiled: t.List[render.CompiledTemplate]
    out_names: t.List[bytes]
    subdirs: t.List[bytes]


class _Source(t.NamedTuple):
    data: bytes
    mode: int


def _read_template(path: str) -> _Source:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
        mode = os.stat(path).st_mode & 0o7777
    except OSError as exc:
        raise ParameterWriterError(path, detail=str(exc)) from exc
    if b"\0" in data[:_TEMPLATE_SNIFF] or b"\0" in data:
        raise ParameterWriterError(path, detail="it is a binary file (contains NUL bytes); only text "
                                   "files can be configured, attach it with to_copy instead")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParameterWriterError(path, detail=f"it is not UTF-8 text ({exc.reason} at byte "
                                   f"{exc.start}); attach binary files with to_copy") from exc
    return _Source(data, mode)


def _written_through_link(files: EntityFiles) -> t.Optional[str]:
    """A relative path this file set would write through a symlink it placed itself, else None.

    Files are placed in order copies, symlinks, rendered templates, so e.g. a template
    ``sub/in.txt`` next to ``to_symlink=["/data/sub"]`` would be written into ``/data/sub``.
    """
    links = {os.path.basename(src) for src in files.link}
    written: t.List[str] = []
    for src in files.copy:
        if not os.path.isdir(src):
            written.append(os.path.basename(src))
            continue
        # copytree keeps symlinks as symlinks, and later copies merge into the same tree
        for dirpath, dirnames, filenames in os.walk(src):
            rel = os.path.relpath(dirpath, src)
            for name in dirnames + filenames:
                path = os.path.normpath(os.path.join(rel, name))
                if os.path.islink(os.path.join(dirpath, name)):
                    links.add(path)
                else:
                    written.append(path)
    if not links:
        return None
    outputs, subdirs = files.template_outputs()
    written.extend(rel for _, rel in outputs)
    written.extend(subdirs)
    for path in written:
        parts = path.split(os.sep)
        if any(os.sep.join(parts[:k]) in links for k in range(1, len(parts) + 1)):
            return path
    return None


class Generator:
    """Creates the experiment directory tree and each entity's files."""

    def __init__(self, gen_path: str, overwrite: bool = False, verbose: bool = True,
                 progress: t.Optional[bool] = None) -> None:
        self.gen_path = os.fspath(gen_path)
        self.progress = progress
        self._bar: t.Optional[ProgressBar] = None
        self._done = 0
        self._files = 0  # files placed or rendered so far (the progress bar shows them)
        self.overwrite = overwrite
        self.verbose = verbose
        self.tag = ";"
        self._sources: t.Dict[str, _Source] = {}
        self._compiled: t.Dict[t.Tuple[int, t.FrozenSet[str]], _TemplateSet] = {}
        self._warned: t.Set[t.Tuple[str, str]] = set()
        self._log_entries: t.List[str] = []
        self._root = os.path.realpath(self.gen_path)
        self._links_checked: t.Set[int] = set()

    @property
    def log_file(self) -> str:
        return os.path.join(self.gen_path, PARAMS_LOG_NAME)

    def set_tag(self, tag: str, regex: t.Optional[str] = None) -> None:
        if regex is not None:
            raise ValueError("regex tags are not supported: templates are matched by delimiter")
        if not isinstance(tag, str) or not tag:
            raise ValueError(f"tag must be a non-empty str, got {tag!r}")
        self.tag = tag

    # -- checks ---------------------------------------------------------------------
    def _classify(self, entities: t.Sequence[t.Any]) -> t.Tuple[list, list, list]:
        dbs, ensembles, models = [], [], []
        for entity in entities:
            if isinstance(entity, Ensemble):
                ensembles.append(entity)
            elif isinstance(entity, Model):
                models.append(entity)
            elif getattr(entity, "type", None) == "Orchestrator" or type(entity).__name__ == "Orchestrator":
                dbs.append(entity)
            else:
                raise EntityTypeError(
                    f"generate() got {entity!r} of type {type(entity).__name__}; expected Model, "
                    "Ensemble or Orchestrator")
        return dbs, ensembles, models

    @staticmethod
    def _check_names(ensembles: t.List[Ensemble], models: t.List[Model]) -> None:
        seen: t.Dict[str, str] = {}
        for entity in [*ensembles, *models]:
            if entity.name in seen:
                raise EntityExistsError(f"two entities are named {entity.name!r}; entity names must be unique")
            seen[entity.name] = entity.type
        for ens in ensembles:
            for name in seen:
                if name != ens.name and name in ens:
                    raise EntityExistsError(
                        f"ensemble {ens.name} has a member named {name!r}, which is also the name of "
                        f"a {seen[name]} in this experiment")
            for name in ens.member_table.added:
                if name in seen:
                    raise EntityExistsError(
                        f"ensemble {ens.name} has a member named {name!r}, which is also the name of "
                        f"a {seen[name]} in this experiment")

    def _check_files(self, files: t.Optional[EntityFiles], owner: str) -> None:
        if not files:
            return
        for kind, paths in (("to_copy", files.copy), ("to_symlink", files.link), ("to_configure", files.tagged)):
            missing = [p for p in paths if not os.path.exists(p)]
            if missing:
                raise GeneratorFileNotFoundError(
                    f"{owner}: {kind} file(s) no longer exist: {', '.join(missing)}")
        for src, _ in files.template_outputs()[0]:
            if src not in self._sources:
                self._sources[src] = _read_template(src)
        if id(files) not in self._links_checked:
            through = _written_through_link(files)
            if through is not None:
                raise GenerationError(
                    f"{owner}: {through!r} would be written through a symlink that the same "
                    "entity places there (to_symlink, or a symlink inside a to_copy directory), "
                    "which can reach outside its directory; attach the linked file or directory "
                    "with to_copy instead, or rename one of the two")
            self._links_checked.add(id(files))

    def _check_inside(self, path: str, owner: str) -> None:
        # realpath, so that a symlink already at exp_path/<name> cannot redirect an rmtree or
        # a write to wherever it points
        real = os.path.realpath(path)
        if real == self._root or os.path.commonpath([real, self._root]) != self._root:
            raise GenerationError(
                f"{owner}: {path} resolves to {real}, which is not inside the experiment "
                f"directory {self._root}; nothing was removed or written")

    def _templates(self, files: EntityFiles, known: t.FrozenSet[str]) -> _TemplateSet:
        key = (id(files), known)
        cached = self._compiled.get(key)
        if cached is not None:
            return cached
        outputs, subdirs = files.template_outputs()
        delimiter = self.tag.encode("utf-8")
        compiled = []
        for src, _ in outputs:
            source = self._sources.get(src) or _read_template(src)
            tpl = render.compile_template(source.data, delimiter, known, path=src, mode=source.mode)
            for name, lines in tpl.unknown_tags.items():
                if (src, name) not in self._warned:
                    self._warned.add((src, name))
                    logger.warning(f"Unused tag {name} on line(s): {lines} in {src}")
            compiled.append(tpl)
        result = _TemplateSet(compiled, [os.fsencode(rel) for _, rel in outputs],
                              [os.fsencode(d) for d in subdirs])
        self._compiled[key] = result
        return result

    def _check_target(self, dst: str, name: str) -> None:
        if os.path.isdir(dst) and not self.overwrite:
            raise GeneratorFileExistsError(f"Directory for entity {name} already exists in path {dst}")

    # -- generation ---------------------------------------------------------------------
    def generate_experiment(self, *entities: t.Any) -> None:
        dbs, ensembles, models = self._classify(entities)
        self._check_names(ensembles, models)
        if os.path.isfile(self.gen_path):
            raise GeneratorFileExistsError(
                f"Experiment directory could not be created. {self.gen_path} exists and is a file")
        self._check_inside(self.log_file, "the parameter log")
        for db in dbs:
            self._check_inside(os.path.join(self.gen_path, db.name), f"database {db.name}")
        for model in models:
            dst = os.path.join(self.gen_path, model.name)
            self._check_inside(dst, f"model {model.name}")
            self._check_files(model.files, f"model {model.name}")
            self._check_target(dst, model.name)
        for ens in ensembles:
            self._check_ensemble(ens)

        os.makedirs(self.gen_path, exist_ok=True)
        with open(self.log_file, mode="w", encoding="utf-8") as log_file:
            log_file.write(f"Generation start date and time: {datetime.now().strftime('%d/%m/%Y %H:%M:%S')}\n")
        total = sum(len(ens) for ens in ensembles) + len(models)
        self._bar = ProgressBar("Generating", total, enabled=progress_wanted(self.progress),
                                kind="generate")
        try:
            for db in dbs:
                self._gen_orchestrator_dir(db)
            for ens in ensembles:
                self._gen_ensemble(ens)
            for model in models:
                dst = os.path.join(self.gen_path, model.name)
                self._prepare_dir(dst)
                model.path = dst
                self._place_files(model.files, dst)
                self._configure_single(model.name, model.params, model.files, dst)
                self._advance(1, model.files)
        finally:
            self._bar.close()
            if self._log_entries:
                with open(self.log_file, mode="a", encoding="utf-8") as log_file:
                    log_file.write("".join(self._log_entries))
                self._log_entries.clear()

    def _advance(self, n: int, files: t.Optional[EntityFiles]) -> None:
        """``n`` members done, each with ``files`` placed or rendered (for the progress bar)."""
        self._done += n
        bar = self._bar
        if bar is None or not bar.enabled:
            return
        if files:
            # a copied directory counts as one: the bar shows progress, not an inventory
            self._files += n * (len(files.copy) + len(files.link) + len(files.template_outputs()[0]))
        bar.update(done=self._done, files=self._files)

    def _check_ensemble(self, ens: Ensemble) -> None:
        table = ens.member_table
        self._check_files(table.files, f"ensemble {ens.name}")
        for state in table.overrides.values():
            self._check_files(state.files, f"ensemble {ens.name}")
        for model in table.added.values():
            self._check_files(model.files, f"ensemble {ens.name} member {model.name}")
        ens_dir = os.path.join(self.gen_path, ens.name)
        self._check_inside(ens_dir, f"ensemble {ens.name}")
        for model in table.added.values():
            self._check_inside(os.path.join(ens_dir, model.name), f"ensemble {ens.name} member {model.name}")
        if os.path.isdir(ens_dir) and not self.overwrite:
            # with overwrite the whole ensemble directory goes (rmtree never follows links in it)
            existing = set()
            for entry in os.scandir(ens_dir):
                if entry.name in ens:
                    if entry.is_symlink():
                        self._check_inside(entry.path, f"ensemble {ens.name} member {entry.name}")
                    if entry.is_dir():
                        existing.add(entry.name)
            clash = next(iter(existing), None)
            if clash is not None:
                raise GeneratorFileExistsError(
                    f"Directory for entity {clash} already exists in path {os.path.join(ens_dir, clash)}")

    def _gen_orchestrator_dir(self, db: t.Any) -> None:
        orc_path = os.path.join(self.gen_path, db.name)
        if hasattr(db, "set_path"):
            db.set_path(orc_path)
        # kept without overwrite: it holds the checkpoints a restarted database loads
        if self.overwrite and os.path.isdir(orc_path):
            shutil.rmtree(orc_path, ignore_errors=True)
        os.makedirs(orc_path, exist_ok=True)

    def _prepare_dir(self, dst: str) -> None:
        if os.path.isdir(dst):
            if not self.overwrite:
                raise GeneratorFileExistsError(f"Directory {dst} already exists")
            shutil.rmtree(dst)
        os.makedirs(dst, exist_ok=True)

    @staticmethod
    def _place_files(files: t.Optional[EntityFiles], dst: str) -> None:
        """Copy (keeping modes; directories merged into ``dst``), then symlink."""
        if not files:
            return
        for src in files.copy:
            if os.path.isdir(src):
                shutil.copytree(src, dst, symlinks=True, dirs_exist_ok=True)
            else:
                shutil.copy(src, os.path.join(dst, os.path.basename(src)))
        for src in files.link:
            os.symlink(src, os.path.join(dst, os.path.basename(src)))

    def _gen_ensemble(self, ens: Ensemble) -> None:
        ens_dir = os.path.join(self.gen_path, ens.name)
        if os.path.isdir(ens_dir) and self.overwrite:
            shutil.rmtree(ens_dir)
        os.makedirs(ens_dir, exist_ok=True)
        ens.path = ens_dir
        table = ens.member_table
        lazy = np.ones(table.n_expanded, dtype=bool)
        if table.overrides:
            lazy[list(table.overrides)] = False
        positions = np.flatnonzero(lazy)
        if self.overwrite:
            for i in positions.tolist():
                dst = os.path.join(ens_dir, table.name(i))
                if os.path.isdir(dst):
                    shutil.rmtree(dst)
        self._render_expanded(ens, positions, ens_dir)
        for i, state in sorted(table.overrides.items()):
            name = table.name(i)
            dst = os.path.join(ens_dir, name)
            self._prepare_dir(dst)
            if state.path is not None:  # a member given its own path is generated here too
                table.member(i).path = dst
            self._place_files(state.files, dst)
            self._configure_single(name, state.params, state.files, dst)
            self._advance(1, state.files)
        for model in table.added.values():
            dst = os.path.join(ens_dir, model.name)
            self._prepare_dir(dst)
            model.path = dst
            self._place_files(model.files, dst)
            self._configure_single(model.name, model.params, model.files, dst)
            self._advance(1, model.files)

    def _render_expanded(self, ens: Ensemble, positions: np.ndarray, ens_dir: str) -> None:
        """All not-yet-materialised expanded members in one pass per parameter pattern."""
        if not len(positions):
            return
        members = ens.member_table
        files = members.files
        table = members.index  # rows are read per chunk: an all_perm table decodes them on demand
        prefix = os.fsencode(os.path.join(ens_dir, members.prefix))
        names = members.param_names
        # user strategies may leave a parameter out (-1): one group per pattern of presence
        # (only a user strategy's matrix can; a product has every parameter in every row)
        index = table[positions] if isinstance(table, np.ndarray) else None
        if index is not None and index.size and (index < 0).any():
            patterns, group_of = np.unique(index >= 0, axis=0, return_inverse=True)
            groups = [(patterns[g], np.flatnonzero(group_of.ravel() == g)) for g in range(len(patterns))]
        else:
            groups = [(np.ones(len(names), dtype=bool), np.arange(len(positions)))]
        if files:
            self._place_members(files, [os.path.join(ens_dir, members.name(i)) for i in positions.tolist()])
        for present, group_rows in groups:
            cols = [j for j in range(len(names)) if present[j]]
            known = frozenset(names[j] for j in cols)
            values = [members.encoded_values()[j] for j in cols]
            tset = self._templates(files, known) if files and files.tagged else None
            if tset is not None:
                col_of = {names[j]: k for k, j in enumerate(cols)}
                slot_columns = [[col_of[s] for s in tpl.slots] for tpl in tset.compiled]
            # Two-stage pipeline: the C writer (GIL released) writes chunk k while this thread
            # formats the parameter logs of chunk k+1, so the two cores overlap.
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="smartsim-render") as writer:
                pending: t.Optional[Future] = None
                pending_rows = 0
                for start in range(0, len(group_rows), _RENDER_CHUNK):
                    rows = group_rows[start:start + _RENDER_CHUNK]
                    member_ids = positions[rows].tolist()
                    dirs = [prefix + str(i).encode() for i in member_ids]
                    sub_index = np.ascontiguousarray(table[positions[rows]][:, cols])
                    job: t.Tuple[t.Any, ...]  # render_members' arguments, in order
                    if tset is not None:
                        logs = self._params_logs(ens.name, member_ids, tset, sub_index, cols, ens)
                        job = (tset.compiled, tset.out_names, dirs, sub_index, slot_columns, values,
                               tset.subdirs, logs, PARAMS_LOG_NAME.encode() if logs else None, True)
                    else:
                        job = ([], [], dirs, sub_index, [], values, None, None, None, True)
                    if pending is not None:
                        pending.result()
                        self._advance(pending_rows, files)
                    pending, pending_rows = writer.submit(render.render_members, *job), len(rows)
                if pending is not None:
                    pending.result()
                    self._advance(pending_rows, files)

    def _place_members(self, files: EntityFiles, dirs: t.List[str]) -> None:
        if not (files.copy or files.link):
            return
        for dst in dirs:
            os.makedirs(dst, exist_ok=True)
            self._place_files(files, dst)

    def _params_logs(self, ens_name: str, member_ids: t.List[int], tset: _TemplateSet,
                     index: np.ndarray, cols: t.List[int], ens: Ensemble) -> t.Optional[t.List[bytes]]:
        """Per-member ``smartsim_params.txt`` contents (None when no template uses a param)."""
        used = [tpl.used_params for tpl in tset.compiled]
        if not any(used):
            return None
        members = ens.member_table
        names = members.param_names
        col_of = {names[j]: k for k, j in enumerate(cols)}
        values = [members.param_values[j] for j in cols]
        rel_dir = os.path.relpath(ens.path, self.gen_path)
        per_file = [(os.sep + os.fsdecode(out), tuple((p, col_of[p]) for p in params))
                    for out, params in zip(tset.out_names, used) if params]
        logs = []
        append_root = self._log_entries.append
        format_entry = paramlog.format_entry
        prefix = f"{rel_dir}{os.sep}{ens_name}_"
        for member_id, row in zip(member_ids, index.tolist()):
            member_dir = f"{prefix}{member_id}"
            # files using the same parameters share one (name, value) list
            rows_of: t.Dict[tuple, t.List[t.Tuple[str, str]]] = {}
            files = []
            for out, params in per_file:
                pairs = rows_of.get(params)
                if pairs is None:
                    pairs = rows_of[params] = [(p, values[c][row[c]]) for p, c in params]
                files.append((member_dir + out, pairs))
            entry = format_entry(f"{ens_name}_{member_id}", files)
            append_root(entry)
            logs.append(entry.encode("utf-8"))
        return logs

    def _configure_single(self, name: str, params: t.Dict[str, str], files: t.Optional[EntityFiles],
                          dst: str) -> None:
        if not files or not files.tagged:
            return
        known = frozenset(params)
        tset = self._templates(files, known)
        pnames = list(params)
        col_of = {p: k for k, p in enumerate(pnames)}
        values = [[str(params[p]).encode("utf-8")] for p in pnames]
        index = np.zeros((1, len(pnames)), dtype=np.int32)
        slot_columns = [[col_of[s] for s in tpl.slots] for tpl in tset.compiled]
        per_file = [(os.path.join(os.path.relpath(dst, self.gen_path), os.fsdecode(out)),
                     [(p, params[p]) for p in tpl.used_params])
                    for out, tpl in zip(tset.out_names, tset.compiled) if tpl.used_params]
        logs = None
        if per_file:
            entry = paramlog.format_entry(name, per_file)
            self._log_entries.append(entry)
            logs = [entry.encode("utf-8")]
        render.render_members(tset.compiled, tset.out_names, [os.fsencode(dst)], index, slot_columns,
                              values, tset.subdirs, logs, PARAMS_LOG_NAME.encode() if logs else None, True)
