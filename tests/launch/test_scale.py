"""Scale features: concurrency cap, only_failed restarts, the launch manifest."""
from __future__ import annotations

import json
import os
import time

import pytest

from smartsim import Experiment
from smartsim._core.control.manifest import JOURNAL_NAME, MANIFEST_NAME, load_manifest
from smartsim.status import SmartSimStatus

S = SmartSimStatus

def _max_overlap(dirs) -> int:
    events = []
    for d in dirs:
        with open(os.path.join(d, "start")) as handle:
            events.append((int(handle.read()), 1))
        with open(os.path.join(d, "end")) as handle:
            events.append((int(handle.read()), -1))
    events.sort(key=lambda e: (e[0], e[1]))  # an end at the same instant frees the slot first
    live = peak = 0
    for _, delta in events:
        live += delta
        peak = max(peak, live)
    return peak


def _stamp_exe(script):
    return script("stamp.sh", "date +%s%N > start\nsleep 0.15\ndate +%s%N > end\n")


@pytest.mark.parametrize("cap", [1, 3])
def test_start_max_concurrent_is_honoured(exp, script, cap):
    ens = exp.create_ensemble("cap", run_settings=exp.create_run_settings(_stamp_exe(script)), replicas=9)
    exp.start(ens, max_concurrent=cap)
    assert exp.get_status(ens) == [S.STATUS_COMPLETED] * 9
    peak = _max_overlap([m.path for m in ens])
    assert peak <= cap
    if cap > 1:
        assert peak >= 2  # it does run members side by side


def test_experiment_max_concurrent_shared_by_ensembles(tmp_path, script):
    exp = Experiment("capped", exp_path=str(tmp_path / "capped"), max_concurrent=2)
    assert exp.max_concurrent == 2
    rs = exp.create_run_settings(_stamp_exe(script))
    a = exp.create_ensemble("a", run_settings=rs, replicas=4)
    b = exp.create_ensemble("b", run_settings=rs, replicas=4)
    exp.start(a, block=False)
    exp.start(b, block=True)  # waits for every job of the experiment, as SmartSim does
    assert exp.get_status(a, b) == [S.STATUS_COMPLETED] * 8
    assert _max_overlap([m.path for m in list(a) + list(b)]) <= 2


def test_default_cap_is_cpu_count(tmp_path):
    exp = Experiment("dflt", exp_path=str(tmp_path / "dflt"))
    assert exp.max_concurrent == (os.cpu_count() or 1)
    with pytest.raises(ValueError):
        Experiment("bad", exp_path=str(tmp_path / "bad"), max_concurrent=0)
    with pytest.raises(TypeError):
        exp.max_concurrent = 1.5


def test_models_are_not_queued_behind_the_default_cap(tmp_path):
    """Coupled models started one by one keep running side by side (SmartSim scripts)."""
    exp = Experiment("coupled", exp_path=str(tmp_path / "coupled"), max_concurrent=1)
    models = [exp.create_model(f"m{i}", exp.create_run_settings("sleep", exe_args=["30"])) for i in range(3)]
    for model in models:
        exp.start(model, block=False)
    try:
        assert exp.get_status(*models) == [S.STATUS_RUNNING] * 3
    finally:
        exp.stop(*models)


FLAKY = """
if [ -f "$FIX" ] || [ $(( $X % 2 )) -eq 0 ]; then echo "ok $X"; exit 0; fi
echo "bad $X"; exit 7
"""


def _flaky_ensemble(exp, script, tmp_path):
    rs = exp.create_run_settings(script("flaky.sh", FLAKY), env_vars={"FIX": str(tmp_path / "fixed")})
    ens = exp.create_ensemble("flaky", params={"X": [0, 1, 2, 3, 4, 5]}, run_settings=rs)
    for i, member in enumerate(ens):  # each member gets its own X in its environment
        member.run_settings.update_env({"X": i})
    return ens


def test_only_failed_reruns_failed_and_keeps_completed_outputs(exp, script, tmp_path):
    ens = _flaky_ensemble(exp, script, tmp_path)
    exp.start(ens)
    assert [s.value for s in exp.get_status(ens)] == ["Completed", "Failed"] * 3
    outs = {m.name: os.path.join(m.path, f"{m.name}.out") for m in ens}
    before = {name: os.stat(path).st_mtime_ns for name, path in outs.items()}
    (tmp_path / "fixed").write_text("")
    time.sleep(0.01)
    exp.start(ens, only_failed=True)
    assert exp.get_status(ens) == [S.STATUS_COMPLETED] * 6
    for i, (name, path) in enumerate(outs.items()):
        if i % 2 == 0:
            assert os.stat(path).st_mtime_ns == before[name]  # not rerun: output untouched
        assert open(path).read() == f"ok {i}\n"
    runs = {}
    for row in exp.summary_data():
        runs.setdefault(row["Name"], []).append(row["RunID"])
    assert runs == {f"flaky_{i}": ([0] if i % 2 == 0 else [0, 1]) for i in range(6)}
    # nothing left to do: a no-op
    exp.start(ens, only_failed=True)
    assert len(exp.summary_data()) == 9


def test_only_failed_after_a_crashed_driver(driver, script, tmp_path):
    """A new driver reads the manifest the previous one left and reruns only what did not
    complete: here the driver was SIGKILLed while two members still ran."""
    flaky = script("flaky.sh", FLAKY)
    slow = script("slow.sh", 'if [ -f "$FIX" ]; then exit 0; fi\necho $$ > pid; sleep 60\n')
    proc = driver(f"""
import os
from smartsim import Experiment
exp = Experiment("crash", exp_path=os.path.abspath("crash"))
rs = exp.create_run_settings({flaky!r}, env_vars={{"FIX": {str(tmp_path / 'fixed')!r}}})
ens = exp.create_ensemble("flaky", params={{"X": [0, 1, 2, 3]}}, run_settings=rs)
for i, m in enumerate(ens):
    m.run_settings.update_env({{"X": i}})
exp.start(ens)
hang = exp.create_ensemble("hang", run_settings=exp.create_run_settings({slow!r}, env_vars={{"FIX": {str(tmp_path / 'fixed')!r}}}), replicas=2)
exp.start(hang, max_concurrent=2)
""")
    from .conftest import wait_until

    pid_files = [tmp_path / "crash" / "hang" / f"hang_{i}" / "pid" for i in range(2)]
    assert wait_until(lambda: all(p.exists() and p.read_text().strip() for p in pid_files), 20)
    proc.kill()
    proc.wait()
    before = load_manifest(str(tmp_path / "crash"))
    assert {r["name"]: r["status"] for r in before["runs"]} == {
        "flaky_0": "Completed", "flaky_1": "Failed", "flaky_2": "Completed", "flaky_3": "Failed",
        "hang_0": None, "hang_1": None}

    (tmp_path / "fixed").write_text("")
    exp = Experiment("crash", exp_path=str(tmp_path / "crash"))
    rs = exp.create_run_settings(flaky, env_vars={"FIX": str(tmp_path / "fixed")})
    ens = exp.create_ensemble("flaky", params={"X": [0, 1, 2, 3]}, run_settings=rs)
    for i, member in enumerate(ens):
        member.run_settings.update_env({"X": i})
    hang = exp.create_ensemble("hang", run_settings=exp.create_run_settings(
        slow, env_vars={"FIX": str(tmp_path / "fixed")}), replicas=2)
    exp.start(ens, hang, only_failed=True)
    assert exp.get_status(ens, hang) == [S.STATUS_COMPLETED] * 6
    after = load_manifest(str(tmp_path / "crash"))
    relaunched = [r["name"] for r in after["runs"][len(before["runs"]):]]
    assert sorted(relaunched) == ["flaky_1", "flaky_3", "hang_0", "hang_1"]
    assert len(after["sessions"]) == 2


def test_manifest_records_what_when_how_and_outcome(exp):
    ok = exp.create_model("ok", exp.create_run_settings("echo", exe_args=["a", "b"], env_vars={"K": "v"}))
    bad = exp.create_model("bad", exp.create_run_settings("sh", exe_args=["-c", "exit 5"]))
    ens = exp.create_ensemble("e", run_settings=exp.create_run_settings("true"), replicas=2)
    began = time.time()
    exp.start(ok, bad, ens)
    journal = os.path.join(exp.exp_path, JOURNAL_NAME)
    events = [json.loads(line) for line in open(journal)]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "session" and kinds[1] == "start"
    assert kinds.count("launch") == 4 and kinds.count("end") == 4
    assert events[1]["entities"] == ["ok", "bad", "e"] and events[1]["members"] == 4
    with open(os.path.join(exp.exp_path, MANIFEST_NAME)) as handle:
        doc = json.load(handle)
    assert doc["experiment"] == {"name": "exp", "path": exp.exp_path, "launcher": "local"}
    runs = {r["name"]: r for r in doc["runs"]}
    assert set(runs) == {"ok", "bad", "e_0", "e_1"}
    assert runs["ok"]["command"][1:] == ["a", "b"] and runs["ok"]["command"][0].endswith("/echo")
    assert runs["ok"]["env_vars"] == ["K"]
    assert runs["ok"]["status"] == "Completed" and runs["ok"]["returncode"] == 0
    assert runs["bad"]["status"] == "Failed" and runs["bad"]["returncode"] == 5
    assert runs["e_1"]["ensemble"] == "e" and runs["e_1"]["path"] == os.path.join(exp.exp_path, "e", "e_1")
    assert runs["e_1"]["out"].endswith("e_1/e_1.out")
    for run in runs.values():
        assert began - 1 <= run["launched_at_epoch"] <= run["ended_at_epoch"] <= time.time() + 1
        assert run["launched_at"] and run["ended_at"]
        assert isinstance(run["job_id"], int)
    key = lambda r: (r["name"], r["run_id"])  # noqa: E731  (launches race: order may differ)
    assert sorted(exp.launch_manifest()["runs"], key=key) == sorted(doc["runs"], key=key)


def test_large_ensemble_does_not_materialise_members(exp):
    ens = exp.create_ensemble("big", run_settings=exp.create_run_settings("true"), replicas=300)
    exp.start(ens, max_concurrent=4, progress=False)
    assert exp.get_status(ens) == [S.STATUS_COMPLETED] * 300
    assert not ens.member_table.overrides
