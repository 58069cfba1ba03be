"""The mutation record carries mutmut's verdicts from one clone to the next."""

import json

from tests.security import mutation_record


def _meta(codes, hashes):
    return {"exit_code_by_key": codes, "hash_by_function_name": hashes,
            "type_check_error_by_key": {}, "durations_by_key": {"a": 1.5},
            "estimated_durations_by_key": {"a": 2.0}}


def test_saved_verdicts_come_back_where_mutmut_reads_them(tmp_path, capsys):
    run, fresh, record = tmp_path / "run", tmp_path / "fresh", tmp_path / "record.json"
    meta = run / "idp" / "oidc" / "views.py.meta"
    meta.parent.mkdir(parents=True)
    codes = {"idp.oidc.views.x_f__mutmut_1": 1, "idp.oidc.views.x_f__mutmut_2": 0,
             "idp.oidc.views.x_f__mutmut_3": None, "idp.oidc.views.x_g__mutmut_1": 33}
    meta.write_text(json.dumps(_meta(codes, {"x_f": "h1", "x_g": "h2"})))

    mutation_record.save(record, run)
    mutation_record.restore(record, fresh)

    restored = json.loads((fresh / "idp" / "oidc" / "views.py.meta").read_text())
    assert restored["exit_code_by_key"] == codes
    assert restored["hash_by_function_name"] == {"x_f": "h1", "x_g": "h2"}
    # The shape mutmut's SourceFileMutationData.load() asserts, nothing more.
    assert set(restored) == {"exit_code_by_key", "hash_by_function_name", "type_check_error_by_key",
                             "durations_by_key", "estimated_durations_by_key"}
    capsys.readouterr()
    mutation_record.survivors(fresh)
    assert capsys.readouterr().out.split() == ["idp.oidc.views.x_f__mutmut_2",
                                                "idp.oidc.views.x_g__mutmut_1"]


def test_restore_never_overwrites_the_verdicts_of_a_run_in_progress(tmp_path):
    run, record = tmp_path / "run", tmp_path / "record.json"
    meta = run / "idp" / "x.py.meta"
    meta.parent.mkdir(parents=True)
    meta.write_text(json.dumps(_meta({"idp.x.x_f__mutmut_1": 1}, {"x_f": "h"})))
    record.write_text(json.dumps({"idp/x.py": {"exit_code_by_key": {"idp.x.x_f__mutmut_1": 0},
                                               "hash_by_function_name": {"x_f": "h"}}}))

    mutation_record.restore(record, run)

    assert json.loads(meta.read_text())["exit_code_by_key"] == {"idp.x.x_f__mutmut_1": 1}


def test_without_a_record_the_run_starts_afresh(tmp_path):
    assert mutation_record.restore(tmp_path / "absent.json", tmp_path / "run") == 0
    assert not (tmp_path / "run").exists()


MUTATED = '''
def x_f__mutmut_orig(a):
    return a + 1

def x_f__mutmut_1(a):
    return a - 1

def x_f__mutmut_2(a):
    return a + 2
'''


def _run(root, codes):
    (root / "idp").mkdir(parents=True)
    (root / "idp" / "m.py").write_text(MUTATED)
    (root / "idp" / "m.py.meta").write_text(json.dumps(_meta(codes, {"x_f": "h"})))


def test_survivors_are_explained_by_their_diff_and_entries_follow_a_renumbering(
        tmp_path, capsys):
    from tests.security import mutation_summary

    root, explained = tmp_path / "mutants", tmp_path / "equivalents.txt"
    _run(root, {"idp.m.x_f__mutmut_1": 1, "idp.m.x_f__mutmut_2": 0})
    assert mutation_summary.mutant_diffs(root) == {
        "idp.m.x_f__mutmut_1": "-return a + 1 ¦ +return a - 1",
        "idp.m.x_f__mutmut_2": "-return a + 1 ¦ +return a + 2"}
    # Written when the mutant was number 1; mutmut has renumbered it 2 since.
    explained.write_text("# header\n"
                         "idp.m.x_f__mutmut_1 | -return a + 1 ¦ +return a + 2 | why\n"
                         "idp.m.x_f__mutmut_7 | -return a ¦ +return None | gone\n")
    counts = mutation_summary.report(root, explained)
    assert counts == {"killed": 1, "survived": 1, "explained": 0}

    dropped = mutation_summary.remap(explained, root)

    assert dropped == ["idp.m.x_f__mutmut_7 | -return a ¦ +return None | gone"]
    assert explained.read_text() == (
        "# header\nidp.m.x_f__mutmut_2 | -return a + 1 ¦ +return a + 2 | why\n")
    assert mutation_summary.report(root, explained)["explained"] == 1
    assert "unexplained: 0" in capsys.readouterr().out
