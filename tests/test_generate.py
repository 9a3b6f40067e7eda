"""``Experiment.generate``: directory layout, copy/symlink/configure, template rendering edge
cases, overwrite rules, parameter logs, atomic writes."""
from __future__ import annotations

import functools
import logging
import os
import re
import stat
import traceback

import pytest

from smartsim import Experiment
from smartsim.error import SmartSimError


@pytest.fixture
def src(tmp_path):
    d = tmp_path / "src"
    d.mkdir()
    return d


@pytest.fixture
def smartsim_log(caplog):
    """caplog wired to the ``smartsim`` logger (which does not propagate to the root)."""
    logger = logging.getLogger("smartsim")
    logger.addHandler(caplog.handler)
    try:
        yield caplog
    finally:
        logger.removeHandler(caplog.handler)


def isolated(test):
    """Run the test body in a forked child, so a crash in the compiled renderer (a segfault)
    fails this one test instead of killing the whole pytest run."""

    @functools.wraps(test)
    def wrapper(*args, **kwargs):
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # child
            os.close(read_fd)
            import faulthandler
            faulthandler.disable()  # the parent reports the signal; keep the output short
            status, report = 0, b""
            try:
                test(*args, **kwargs)
            except BaseException:  # noqa: BLE001 - report everything to the parent
                status, report = 1, traceback.format_exc().encode()
            finally:
                try:
                    os.write(write_fd, report)
                finally:
                    os._exit(status)
        os.close(write_fd)
        chunks = []
        while True:
            chunk = os.read(read_fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
        os.close(read_fd)
        _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status):
            pytest.fail(f"the test crashed the interpreter (signal {os.WTERMSIG(status)})", pytrace=False)
        if os.WEXITSTATUS(status):
            pytest.fail(b"".join(chunks).decode(errors="replace"), pytrace=False)

    return wrapper


def write(path, content):
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


MODES = ["model", "ensemble", "touched_member"]


def render(exp, rs, src, template, params, mode, tag=None, name="in.txt"):
    """Render ``template`` with ``params`` through one generation path; output bytes per member."""
    tpl = write(src / name, template)
    if mode == "model":
        entity = exp.create_model("m", rs, params=params)
        entity.attach_generator_files(to_configure=[str(tpl)])
        dirs = [os.path.join(exp.exp_path, "m")]
    else:
        entity = exp.create_ensemble("ens", params={k: [v] for k, v in params.items()},
                                     run_settings=rs, replicas=2)
        entity.attach_generator_files(to_configure=[str(tpl)])
        if mode == "touched_member":
            entity["ens_1"].params  # materialise one member: the per-member code path
        dirs = [os.path.join(exp.exp_path, "ens", f"ens_{i}") for i in range(2)]
    if tag is None:
        exp.generate(entity)
    else:
        exp.generate(entity, tag=tag)
    return [open(os.path.join(d, name), "rb").read() for d in dirs]


def assert_rendered(outputs, expected):
    if isinstance(expected, str):
        expected = expected.encode("utf-8")
    for out in outputs:
        assert out == expected


# -- layout -------------------------------------------------------------------------------

@isolated
def test_directory_layout(exp, rs):
    model = exp.create_model("m", rs)
    ens = exp.create_ensemble("ens", params={"a": [1, 2, 3]}, run_settings=rs)
    exp.generate(model, ens)
    root = exp.exp_path
    assert os.path.isdir(os.path.join(root, "m"))
    assert sorted(os.listdir(os.path.join(root, "ens"))) == ["ens_0", "ens_1", "ens_2"]
    assert all(os.path.isdir(os.path.join(root, "ens", f"ens_{i}")) for i in range(3))
    assert model.path == os.path.join(root, "m")
    assert ens.path == os.path.join(root, "ens")
    assert [m.path for m in ens] == [os.path.join(root, "ens", f"ens_{i}") for i in range(3)]


@isolated
def test_replica_ensemble_and_added_model_layout(exp, rs):
    ens = exp.create_ensemble("reps", run_settings=rs, replicas=2)
    extra = exp.create_model("extra", rs)
    ens.add_model(extra)
    exp.generate(ens)
    assert sorted(os.listdir(os.path.join(exp.exp_path, "reps"))) == ["extra", "reps_0", "reps_1"]
    assert extra.path == os.path.join(exp.exp_path, "reps", "extra")


@isolated
def test_generate_with_nothing_to_configure_writes_params_log(exp, rs):
    exp.generate(exp.create_model("m", rs))
    with open(os.path.join(exp.exp_path, "smartsim_params.txt"), encoding="utf-8") as f:
        assert f.read().startswith("Generation start date and time: ")


# -- copy / symlink / configure --------------------------------------------------------

@pytest.mark.parametrize("entity_kind", ["model", "ensemble"])
@isolated
def test_to_copy_file_keeps_mode(exp, rs, src, entity_kind):
    script = write(src / "run.sh", "#!/bin/sh\necho ;A;\n")
    script.chmod(0o755)
    private = write(src / "secret.txt", "s")
    private.chmod(0o600)
    if entity_kind == "model":
        entity = exp.create_model("m", rs, params={"A": 1})
        dirs = [os.path.join(exp.exp_path, "m")]
    else:
        entity = exp.create_ensemble("ens", params={"A": [1, 2]}, run_settings=rs)
        dirs = [os.path.join(exp.exp_path, "ens", f"ens_{i}") for i in range(2)]
    entity.attach_generator_files(to_copy=[str(script), str(private)])
    exp.generate(entity)
    for d in dirs:
        copied = os.path.join(d, "run.sh")
        assert stat.S_IMODE(os.stat(copied).st_mode) == 0o755
        assert os.access(copied, os.X_OK)
        # copied, not rendered
        assert open(copied).read() == "#!/bin/sh\necho ;A;\n"
        assert stat.S_IMODE(os.stat(os.path.join(d, "secret.txt")).st_mode) == 0o600


@pytest.mark.parametrize("entity_kind", ["model", "ensemble"])
@isolated
def test_to_copy_directory_contents_are_merged(exp, rs, src, entity_kind):
    tree = src / "inputs"
    (tree / "sub").mkdir(parents=True)
    write(tree / "a.txt", "A")
    write(tree / "sub" / "b.txt", "B")
    if entity_kind == "model":
        entity = exp.create_model("m", rs)
        dirs = [os.path.join(exp.exp_path, "m")]
    else:
        entity = exp.create_ensemble("ens", run_settings=rs, replicas=2)
        dirs = [os.path.join(exp.exp_path, "ens", f"ens_{i}") for i in range(2)]
    entity.attach_generator_files(to_copy=str(tree))
    exp.generate(entity)
    for d in dirs:
        assert sorted(os.listdir(d)) == ["a.txt", "sub"]
        assert open(os.path.join(d, "a.txt")).read() == "A"
        assert open(os.path.join(d, "sub", "b.txt")).read() == "B"
        assert not os.path.exists(os.path.join(d, "inputs"))


@pytest.mark.parametrize("entity_kind", ["model", "ensemble"])
@isolated
def test_to_symlink_points_to_absolute_source(exp, rs, src, entity_kind, monkeypatch):
    write(src / "big.dat", "data")
    (src / "dataset").mkdir()
    write(src / "dataset" / "x", "x")
    monkeypatch.chdir(src)
    if entity_kind == "model":
        entity = exp.create_model("m", rs)
        dirs = [os.path.join(exp.exp_path, "m")]
    else:
        entity = exp.create_ensemble("ens", run_settings=rs, replicas=2)
        dirs = [os.path.join(exp.exp_path, "ens", f"ens_{i}") for i in range(2)]
    # relative paths: the links must still point at absolute sources
    entity.attach_generator_files(to_symlink=["big.dat", "dataset"])
    exp.generate(entity)
    for d in dirs:
        link = os.path.join(d, "big.dat")
        assert os.path.islink(link)
        assert os.readlink(link) == str(src / "big.dat")
        assert open(link).read() == "data"
        dlink = os.path.join(d, "dataset")
        assert os.path.islink(dlink)
        assert os.readlink(dlink) == str(src / "dataset")


@isolated
def test_to_configure_file_per_member_values(exp, rs, src):
    tpl = write(src / "in.nml", "&params\n  a = ;A;\n  b = ;B;\n/\n")
    ens = exp.create_ensemble("ens", params={"A": [1, 2], "B": ["x", "y"]}, run_settings=rs)
    ens.attach_generator_files(to_configure=[str(tpl)])
    exp.generate(ens)
    expected = [("1", "x"), ("1", "y"), ("2", "x"), ("2", "y")]
    for i, (a, b) in enumerate(expected):
        text = open(os.path.join(exp.exp_path, "ens", f"ens_{i}", "in.nml")).read()
        assert text == f"&params\n  a = {a}\n  b = {b}\n/\n"
    # the template itself is untouched
    assert tpl.read_text() == "&params\n  a = ;A;\n  b = ;B;\n/\n"


@pytest.mark.parametrize("entity_kind", ["model", "ensemble"])
@isolated
def test_to_configure_directory_is_rendered_into_entity_dir(exp, rs, src, entity_kind):
    conf = src / "conf"
    (conf / "sub" / "deeper").mkdir(parents=True)
    write(conf / "top.in", "t=;A;\n")
    write(conf / "sub" / "mid.in", "m=;B;\n")
    write(conf / "sub" / "deeper" / "low.in", "l=;A;;B;\n")
    if entity_kind == "model":
        entity = exp.create_model("m", rs, params={"A": 1, "B": "b"})
        dirs = [os.path.join(exp.exp_path, "m")]
    else:
        entity = exp.create_ensemble("ens", params={"A": [1], "B": ["b"]}, run_settings=rs, replicas=2)
        dirs = [os.path.join(exp.exp_path, "ens", f"ens_{i}") for i in range(2)]
    entity.attach_generator_files(to_configure=[str(conf)])
    exp.generate(entity)
    for d in dirs:
        assert open(os.path.join(d, "top.in")).read() == "t=1\n"
        assert open(os.path.join(d, "sub", "mid.in")).read() == "m=b\n"
        assert open(os.path.join(d, "sub", "deeper", "low.in")).read() == "l=1b\n"
        assert not os.path.exists(os.path.join(d, "conf"))


@isolated
def test_configure_runs_after_copy(exp, rs, src):
    (src / "raw").mkdir()
    (src / "tpl").mkdir()
    raw = write(src / "raw" / "in.txt", "raw ;A;\n")
    tpl = write(src / "tpl" / "in.txt", "rendered ;A;\n")
    model = exp.create_model("m", rs, params={"A": 5})
    model.attach_generator_files(to_copy=[str(raw)], to_configure=[str(tpl)])
    exp.generate(model)
    assert open(os.path.join(exp.exp_path, "m", "in.txt")).read() == "rendered 5\n"


@isolated
def test_mutated_member_params_are_rendered(exp, rs, src):
    tpl = write(src / "in.txt", "a=;A;\n")
    ens = exp.create_ensemble("ens", params={"A": [1, 2, 3]}, run_settings=rs)
    ens.attach_generator_files(to_configure=[str(tpl)])
    ens["ens_1"].params["A"] = "custom"
    exp.generate(ens)
    got = [open(os.path.join(exp.exp_path, "ens", f"ens_{i}", "in.txt")).read() for i in range(3)]
    assert got == ["a=1\n", "a=custom\n", "a=3\n"]


@isolated
def test_added_model_in_ensemble_is_rendered_with_its_params(exp, rs, src):
    tpl = write(src / "in.txt", "a=;A;\n")
    ens = exp.create_ensemble("ens", params={"A": [1]}, run_settings=rs)
    extra = exp.create_model("extra", rs, params={"A": "own"})
    ens.add_model(extra)
    ens.attach_generator_files(to_configure=[str(tpl)])
    exp.generate(ens)
    assert open(os.path.join(exp.exp_path, "ens", "ens_0", "in.txt")).read() == "a=1\n"
    assert open(os.path.join(exp.exp_path, "ens", "extra", "in.txt")).read() == "a=own\n"


@isolated
def test_user_strategy_member_without_param_keeps_tag(exp, rs, src):
    def partial(names, values, n_models):
        return [{"A": "1", "B": "x"}, {"A": "2"}]

    tpl = write(src / "in.txt", "a=;A; b=;B;\n")
    ens = exp.create_ensemble("ens", params={"A": [1, 2], "B": ["x"]}, run_settings=rs,
                              perm_strategy=partial)
    ens.attach_generator_files(to_configure=[str(tpl)])
    exp.generate(ens)
    assert open(os.path.join(exp.exp_path, "ens", "ens_0", "in.txt")).read() == "a=1 b=x\n"
    assert open(os.path.join(exp.exp_path, "ens", "ens_1", "in.txt")).read() == "a=2 b=;B;\n"


@isolated
def test_replica_ensemble_template_without_params(exp, rs, src, smartsim_log):
    tpl = write(src / "in.txt", "static\nv=;A;\n")
    ens = exp.create_ensemble("ens", run_settings=rs, replicas=3)
    ens.attach_generator_files(to_configure=[str(tpl)])
    exp.generate(ens)
    for i in range(3):
        assert open(os.path.join(exp.exp_path, "ens", f"ens_{i}", "in.txt")).read() == "static\nv=;A;\n"
    assert len(_unused_tag_warnings(smartsim_log, "A")) == 1


# -- rendering edge cases (every generation path) -----------------------------------------------

@pytest.mark.parametrize("mode", MODES)
@isolated
def test_tags_at_line_start_and_end(exp, rs, src, mode):
    out = render(exp, rs, src, ";A;start\nmid ;A;\n;A;\nend;A;", {"A": "v"}, mode)
    assert_rendered(out, "vstart\nmid v\nv\nendv")


@pytest.mark.parametrize("mode", MODES)
@isolated
def test_adjacent_tags(exp, rs, src, mode):
    out = render(exp, rs, src, ";A;;B;\nx;B;;A;;A;y\n", {"A": "1", "B": "2"}, mode)
    assert_rendered(out, "12\nx211y\n")


@pytest.mark.parametrize("mode", MODES)
@isolated
def test_several_tags_per_line(exp, rs, src, mode):
    out = render(exp, rs, src, "x=;A; y=;B; z=;A; w=;C;\n", {"A": "1", "B": "22", "C": "333"}, mode)
    assert_rendered(out, "x=1 y=22 z=1 w=333\n")


@pytest.mark.parametrize("mode", MODES)
@isolated
def test_unknown_tag_once_then_known_tags_replaced(exp, rs, src, mode):
    out = render(exp, rs, src, "a=;A; u=;NOPE; b=;B;\n", {"A": "1", "B": "2"}, mode)
    assert_rendered(out, "a=1 u=;NOPE; b=2\n")


@pytest.mark.parametrize("mode", MODES)
@isolated
def test_unknown_tag_left_as_written_and_others_replaced(exp, rs, src, mode):
    template = "a=;A; u=;NOPE; b=;B;\n;NOPE; first\nlast ;B;\n"
    out = render(exp, rs, src, template, {"A": "1", "B": "2"}, mode)
    assert_rendered(out, "a=1 u=;NOPE; b=2\n;NOPE; first\nlast 2\n")


@pytest.mark.parametrize("mode", MODES)
@isolated
def test_non_tags_are_untouched(exp, rs, src, mode):
    # a lone delimiter, an empty name, and a "tag" broken across lines are not tags
    template = "x = 1;\n;;A;\n;A\n; tail\nfor(i=0;i<n;i++)\n"
    out = render(exp, rs, src, template, {"A": "7"}, mode)
    assert_rendered(out, "x = 1;\n;7\n;A\n; tail\nfor(i=0;i<n;i++)\n")


@pytest.mark.parametrize("mode", MODES)
@isolated
def test_values_written_literally(exp, rs, src, mode):
    params = {
        "A": "C:\\dir\\new\\table",
        "B": "\\g<0>\\1$1&\\0",
        "C": ";B;",
        "D": ";D;",
        "E": ";",
    }
    template = "a=;A;\nb=;B;\nc=;C;\nd=;D;\ne=;E;;E;\n"
    out = render(exp, rs, src, template, params, mode)
    assert_rendered(out, "a=C:\\dir\\new\\table\nb=\\g<0>\\1$1&\\0\nc=;B;\nd=;D;\ne=;;\n")


@pytest.mark.parametrize("mode", MODES)
@isolated
def test_multibyte_utf8_around_tags_and_in_values(exp, rs, src, mode):
    template = "héllo ;A; wörld;B;€\n日本;A;語\n;温度;\nΩ;A;Ω\n"
    params = {"A": "ü→✓", "B": "😀", "温度": "300 K°"}
    out = render(exp, rs, src, template, params, mode)
    assert_rendered(out, "héllo ü→✓ wörld😀€\n日本ü→✓語\n300 K°\nΩü→✓Ω\n")


@pytest.mark.parametrize("mode", MODES)
@isolated
def test_empty_template(exp, rs, src, mode):
    out = render(exp, rs, src, b"", {"A": "1"}, mode)
    assert_rendered(out, b"")


@pytest.mark.parametrize("mode", MODES)
@isolated
def test_line_endings_and_missing_final_newline_preserved(exp, rs, src, mode):
    out = render(exp, rs, src, "a=;A;\r\nb=;A;\r\n\r\nc=;A;", {"A": "1"}, mode)
    assert_rendered(out, "a=1\r\nb=1\r\n\r\nc=1")


@pytest.mark.parametrize("mode", MODES)
@isolated
def test_numeric_values_are_rendered_as_text(exp, rs, src, mode):
    out = render(exp, rs, src, ";I; ;F; ;T;\n", {"I": 3, "F": 0.25, "T": True}, mode)
    assert_rendered(out, "3 0.25 True\n")


@pytest.mark.parametrize("mode", MODES)
@isolated
def test_custom_tag(exp, rs, src, mode):
    out = render(exp, rs, src, "x=@A@ y=;A; z=@B@@A@\n", {"A": "1", "B": "2"}, mode, tag="@")
    assert_rendered(out, "x=1 y=;A; z=21\n")


@pytest.mark.parametrize("mode", ["model", "ensemble"])
@isolated
def test_custom_multibyte_tag(exp, rs, src, mode):
    out = render(exp, rs, src, "x=§A§ y=;A; z=§B§§A§\n", {"A": "1", "B": "ä"}, mode, tag="§")
    assert_rendered(out, "x=1 y=;A; z=ä1\n")


@isolated
def test_ten_megabyte_template(exp, rs, src):
    line = "some physics text ;A; more text ;B; trailing words here\n"
    body = line * (10 * 1024 * 1024 // len(line) + 1)
    assert len(body) >= 10 * 1024 * 1024
    tpl = write(src / "big.in", body)
    ens = exp.create_ensemble("ens", params={"A": ["1.5", "alpha"], "B": ["x", "yy"]},
                              run_settings=rs, perm_strategy="step")
    ens.attach_generator_files(to_configure=[str(tpl)])
    exp.generate(ens)
    for i, (a, b) in enumerate([("1.5", "x"), ("alpha", "yy")]):
        got = open(os.path.join(exp.exp_path, "ens", f"ens_{i}", "big.in"), encoding="utf-8").read()
        assert got == body.replace(";A;", a).replace(";B;", b)
    assert not list((src.parent / "exp").rglob("*.ssgen-tmp"))


@isolated
def test_ten_megabyte_template_model(exp, rs, src):
    line = "x ;A; y\n"
    body = line * (10 * 1024 * 1024 // len(line) + 1)
    tpl = write(src / "big.in", body)
    model = exp.create_model("m", rs, params={"A": "ok"})
    model.attach_generator_files(to_configure=str(tpl))
    exp.generate(model)
    assert open(os.path.join(exp.exp_path, "m", "big.in")).read() == body.replace(";A;", "ok")


# -- unknown-tag warnings ----------------------------------------------------------------

def _unused_tag_warnings(caplog, tag):
    return [r for r in caplog.records if r.levelno == logging.WARNING and tag in r.getMessage()]


@isolated
def test_unknown_tag_warned_once_per_template_not_per_member(exp, rs, src, smartsim_log):
    tpl = write(src / "in.txt", "a=;A; ;NOPE;\nb\n;NOPE; again\n")
    ens = exp.create_ensemble("ens", params={"A": [1, 2, 3, 4, 5]}, run_settings=rs)
    ens.attach_generator_files(to_configure=[str(tpl)])
    exp.generate(ens)
    warnings = _unused_tag_warnings(smartsim_log, "NOPE")
    assert len(warnings) == 1
    assert "[1, 3]" in warnings[0].getMessage()


@isolated
def test_unknown_tag_warned_once_per_template_with_materialised_members(exp, rs, src, smartsim_log):
    tpl = write(src / "in.txt", ";NOPE; ;A;\n")
    ens = exp.create_ensemble("ens", params={"A": [1, 2, 3, 4]}, run_settings=rs)
    ens.attach_generator_files(to_configure=[str(tpl)])
    ens["ens_0"].params
    ens["ens_2"].params
    exp.generate(ens)
    assert len(_unused_tag_warnings(smartsim_log, "NOPE")) == 1


@isolated
def test_unknown_tag_warning_per_template(exp, rs, src, smartsim_log):
    one = write(src / "one.txt", ";NOPE; ;A;\n")
    two = write(src / "two.txt", "x\n;NOPE;\n")
    ens = exp.create_ensemble("ens", params={"A": [1, 2, 3]}, run_settings=rs)
    ens.attach_generator_files(to_configure=[str(one), str(two)])
    exp.generate(ens)
    warnings = _unused_tag_warnings(smartsim_log, "NOPE")
    assert len(warnings) == 2
    messages = " ".join(w.getMessage() for w in warnings)
    assert "[1]" in messages and "[2]" in messages


@isolated
def test_text_between_unknown_and_known_tag_is_not_reported(exp, rs, src, smartsim_log):
    # only ;NOPE; is an unused tag; "; b=;" (the text between two tags) is not one
    tpl = write(src / "in.txt", "a=;A; u=;NOPE; b=;B;\n")
    ens = exp.create_ensemble("ens", params={"A": [1, 2], "B": [3]}, run_settings=rs)
    ens.attach_generator_files(to_configure=[str(tpl)])
    exp.generate(ens)
    warnings = [r.getMessage() for r in smartsim_log.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "NOPE" in warnings[0]


@isolated
def test_known_tags_produce_no_warning(exp, rs, src, smartsim_log):
    tpl = write(src / "in.txt", ";A; ;B;\n")
    ens = exp.create_ensemble("ens", params={"A": [1, 2], "B": [3]}, run_settings=rs)
    ens.attach_generator_files(to_configure=[str(tpl)])
    exp.generate(ens)
    assert not [r for r in smartsim_log.records if r.levelno >= logging.WARNING]


# -- binary templates ---------------------------------------------------------------------

@pytest.mark.parametrize("entity_kind", ["model", "ensemble"])
@isolated
def test_binary_template_refused_before_writing(exp, rs, src, entity_kind):
    good = write(src / "good.txt", "a=;A;\n")
    binary = write(src / "blob.bin", b"\x7fELF\x00\x01\x02;A;\x00")
    if entity_kind == "model":
        entity = exp.create_model("m", rs, params={"A": 1})
    else:
        entity = exp.create_ensemble("ens", params={"A": [1, 2]}, run_settings=rs)
    entity.attach_generator_files(to_configure=[str(good), str(binary)])
    with pytest.raises(SmartSimError) as info:
        exp.generate(entity)
    assert "blob.bin" in str(info.value)
    assert os.listdir(exp.exp_path) == []


@isolated
def test_binary_file_can_be_copied(exp, rs, src):
    binary = write(src / "blob.bin", bytes(range(256)))
    model = exp.create_model("m", rs)
    model.attach_generator_files(to_copy=[str(binary)])
    exp.generate(model)
    assert open(os.path.join(exp.exp_path, "m", "blob.bin"), "rb").read() == bytes(range(256))


# -- overwrite ---------------------------------------------------------------------------------

@isolated
def test_existing_model_dir_without_overwrite(exp, rs):
    model = exp.create_model("mymodel", rs)
    exp.generate(model)
    with pytest.raises(FileExistsError) as info:
        exp.generate(model)
    assert "mymodel" in str(info.value)


@isolated
def test_existing_model_dir_error_writes_nothing_else(exp, rs):
    model = exp.create_model("mymodel", rs)
    os.makedirs(os.path.join(exp.exp_path, "mymodel"))
    ens = exp.create_ensemble("ens", run_settings=rs, replicas=2)
    with pytest.raises(FileExistsError):
        exp.generate(ens, model)
    assert sorted(os.listdir(exp.exp_path)) == ["mymodel"]


@isolated
def test_existing_ensemble_dir_is_reused(exp, rs, src):
    ens_dir = os.path.join(exp.exp_path, "ens")
    os.makedirs(ens_dir)
    with open(os.path.join(ens_dir, "keep.txt"), "w") as f:
        f.write("keep")
    tpl = write(src / "in.txt", ";A;\n")
    ens = exp.create_ensemble("ens", params={"A": [1, 2]}, run_settings=rs)
    ens.attach_generator_files(to_configure=[str(tpl)])
    exp.generate(ens)
    assert sorted(os.listdir(ens_dir)) == ["ens_0", "ens_1", "keep.txt"]
    assert open(os.path.join(ens_dir, "keep.txt")).read() == "keep"
    assert open(os.path.join(ens_dir, "ens_1", "in.txt")).read() == "2\n"


@isolated
def test_existing_member_dir_without_overwrite(exp, rs):
    ens = exp.create_ensemble("ens", run_settings=rs, replicas=2)
    exp.generate(ens)
    with pytest.raises(FileExistsError) as info:
        exp.generate(ens)
    assert "ens_" in str(info.value)


@isolated
def test_overwrite_recreates_model_and_ensemble(exp, rs, src):
    tpl = write(src / "in.txt", "a=;A;\n")
    model = exp.create_model("m", rs, params={"A": "old"})
    model.attach_generator_files(to_configure=[str(tpl)])
    ens = exp.create_ensemble("ens", params={"A": ["e0", "e1"]}, run_settings=rs)
    ens.attach_generator_files(to_configure=[str(tpl)])
    exp.generate(model, ens)
    for stale in ("m/stale.txt", "ens/stale.txt", "ens/ens_0/stale.txt"):
        with open(os.path.join(exp.exp_path, stale), "w") as f:
            f.write("stale")

    model2 = exp.create_model("m", rs, params={"A": "new"})
    model2.attach_generator_files(to_configure=[str(tpl)])
    exp.generate(model2, ens, overwrite=True)
    root = exp.exp_path
    assert sorted(os.listdir(os.path.join(root, "m"))) == ["in.txt", "smartsim_params.txt"]
    assert open(os.path.join(root, "m", "in.txt")).read() == "a=new\n"
    assert not os.path.exists(os.path.join(root, "ens", "stale.txt"))
    assert not os.path.exists(os.path.join(root, "ens", "ens_0", "stale.txt"))
    assert open(os.path.join(root, "ens", "ens_0", "in.txt")).read() == "a=e0\n"
    assert open(os.path.join(root, "ens", "ens_1", "in.txt")).read() == "a=e1\n"


# -- parameter logs and temporary files -------------------------------------------------------

@isolated
def test_params_logs(exp, rs, src):
    tpl = write(src / "in.txt", "a=;A; b=;B;\n")
    model = exp.create_model("solo", rs, params={"A": "mval", "B": "mb"})
    model.attach_generator_files(to_configure=[str(tpl)])
    ens = exp.create_ensemble("ens", params={"A": ["v1", "v2"], "B": ["bb"]}, run_settings=rs)
    ens.attach_generator_files(to_configure=[str(tpl)])
    exp.generate(model, ens)

    root_log = open(os.path.join(exp.exp_path, "smartsim_params.txt"), encoding="utf-8").read()
    assert root_log.startswith("Generation start date and time: ")
    assert re.match(r"Generation start date and time: \d{2}/\d{2}/\d{4} \d{2}:\d{2}:\d{2}\n", root_log)
    for name in ("solo", "ens_0", "ens_1"):
        assert name in root_log

    solo_log = open(os.path.join(exp.exp_path, "solo", "smartsim_params.txt"), encoding="utf-8").read()
    assert "solo" in solo_log and "mval" in solo_log and "in.txt" in solo_log
    for i, value in enumerate(["v1", "v2"]):
        log = open(os.path.join(exp.exp_path, "ens", f"ens_{i}", "smartsim_params.txt"),
                   encoding="utf-8").read()
        assert f"ens_{i}" in log
        assert "A" in log and value in log and "bb" in log
        assert "in.txt" in log
        other = "v2" if value == "v1" else "v1"
        assert other not in log


@isolated
def test_root_params_log_truncated_per_generate(exp, rs, src):
    tpl = write(src / "in.txt", ";A;\n")
    ens = exp.create_ensemble("ens", params={"A": [1, 2]}, run_settings=rs)
    ens.attach_generator_files(to_configure=[str(tpl)])
    exp.generate(ens)
    exp.generate(ens, overwrite=True)
    root_log = open(os.path.join(exp.exp_path, "smartsim_params.txt"), encoding="utf-8").read()
    assert root_log.count("Generation start date and time: ") == 1
    assert root_log.startswith("Generation start date and time: ")


@isolated
def test_no_leftover_temporary_files(exp, rs, src):
    conf = src / "conf"
    (conf / "sub").mkdir(parents=True)
    write(conf / "a.in", ";A;\n" * 100)
    write(conf / "sub" / "b.in", ";B;\n")
    model = exp.create_model("m", rs, params={"A": 1, "B": 2})
    model.attach_generator_files(to_configure=[str(conf)])
    ens = exp.create_ensemble("ens", params={"A": list(range(20)), "B": [1, 2]}, run_settings=rs)
    ens.attach_generator_files(to_configure=[str(conf)])
    ens["ens_3"].params["A"] = "x"
    exp.generate(model, ens)
    exp.generate(model, ens, overwrite=True)
    leftovers = [os.path.join(d, f) for d, _, files in os.walk(exp.exp_path) for f in files
                 if f.endswith(".ssgen-tmp")]
    assert leftovers == []
    assert len(os.listdir(os.path.join(exp.exp_path, "ens"))) == 40


def test_generate_progress_bar_reports_counts(tmp_path, capsys):
    """progress=True shows a bar with the member count once generation runs long enough."""
    from smartsim import Experiment
    from smartsim._core.generation import generator as gen_mod

    exp = Experiment("progress", exp_path=str(tmp_path / "exp"))
    rs = exp.create_run_settings("echo")
    ens = exp.create_ensemble("p", params={"a": list(range(50)), "b": list(range(20))}, run_settings=rs)
    template = tmp_path / "in.txt"
    template.write_text("a=;a; b=;b;\n")
    ens.attach_generator_files(to_configure=[str(template)])
    original = gen_mod.ProgressBar.__init__

    def no_delay(self, *args, **kwargs):
        kwargs["delay"] = 0.0
        original(self, *args, **kwargs)

    gen_mod.ProgressBar.__init__ = no_delay
    try:
        exp.generate(ens, progress=True)
    finally:
        gen_mod.ProgressBar.__init__ = original
    out = capsys.readouterr().out
    assert "Generating" in out
    assert "1000/1" in out  # done/total (rich may truncate a narrow line)
    assert (tmp_path / "exp" / "p" / "p_999" / "in.txt").read_text() == "a=49 b=19\n"


def test_configured_file_replaces_a_copied_file_of_the_same_name(tmp_path):
    """Copy runs before configure: the rendered file atomically replaces the copy."""
    from smartsim import Experiment

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "in.txt").write_text("copied\n")
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "in.txt").write_text("v=;A;\n")
    exp = Experiment("replace", exp_path=str(tmp_path / "exp"))
    ens = exp.create_ensemble("x", params={"A": [1, 2]}, run_settings=exp.create_run_settings("echo"))
    ens.attach_generator_files(to_copy=[str(tmp_path / "src" / "in.txt")],
                               to_configure=[str(tmp_path / "tpl" / "in.txt")])
    exp.generate(ens)
    for i, value in enumerate(["1", "2"]):
        member = tmp_path / "exp" / "x" / f"x_{i}"
        assert (member / "in.txt").read_text() == f"v={value}\n"
        assert sorted(p.name for p in member.iterdir()) == ["in.txt", "smartsim_params.txt"]
