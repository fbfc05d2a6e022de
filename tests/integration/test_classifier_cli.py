"""Classifier commands end to end: train -> eval (CSV) -> calibrate on a small
synthetic data set whose classes are easy to tell apart, plus the error paths
a user meets first (missing model, bad options). Fast: few trees, small dim."""
import csv
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile

BIN = os.environ.get("HR_BIN", "build/hermes-router")


def run(*args):
    p = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def write_data(path, per_class=40):
    with open(path, "w", encoding="utf-8") as f:
        for i in range(per_class * 3):
            cls = i % 3
            if cls == 0:
                prompt, lang = f"Say hello to my friend number {i}, please.", "en"
            elif cls == 1:
                prompt = f"Fix this function {i}:\n```python\ndef f(x):\n    return x + {i}\n```\nIt is wrong."
                lang = "en"
            else:
                prompt, lang = f"请证明第{i}个定理：对于所有正整数n，n的平方加n是偶数。", "zh"
            q = {t: (1.0 if k >= cls else 0.0) for k, t in enumerate(["small", "medium", "large"])}
            row = {"id": f"syn:{i}", "source": "syn" if i % 2 else "syn2", "lang": lang, "category": "x",
                   "prompt": prompt, "quality": q, "label": ["small", "medium", "large"][cls]}
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


# Request log schema version 1, as src/store/store_sqlite.c creates it (a
# newer build migrates it on open).
SCHEMA_V1 = """CREATE TABLE requests (id INTEGER PRIMARY KEY AUTOINCREMENT, ts_ms INTEGER NOT NULL,
 request_id TEXT, tier TEXT NOT NULL DEFAULT '', model TEXT, strategy TEXT, reason TEXT,
 forced INTEGER NOT NULL DEFAULT 0, stream INTEGER NOT NULL DEFAULT 0, route_us REAL, latency_ms REAL,
 ttft_ms REAL, prompt_tokens INTEGER, completion_tokens INTEGER, status INTEGER NOT NULL DEFAULT 0,
 error TEXT, prompt TEXT, attempts_json TEXT, label TEXT); PRAGMA user_version = 1;"""


def label_loop(d):
    """label export -> label the JSONL -> label import writes the labels into
    the log -> export no longer lists them -> train --from-log uses them."""
    db, cfg = os.path.join(d, "log.db"), os.path.join(d, "log.yaml")
    con = sqlite3.connect(db)
    con.executescript(SCHEMA_V1)
    prompts = ["Say hello to my friend, please.", "Fix this function:\n```python\ndef f(x): return x\n```",
               "请证明：对于所有正整数n，n的平方加n是偶数。"]
    for i in range(12):
        con.execute("INSERT INTO requests (ts_ms, request_id, tier, status, prompt) VALUES (?, ?, 'medium', ?, ?)",
                    (1000 + i, f"r{i}", 500 if i == 11 else 200, f"{prompts[i % 3]} #{i}"))
    con.commit()
    con.close()
    with open(cfg, "w") as f:
        f.write("tiers:\n  small:\n    backends: [{type: openai, url: \"http://127.0.0.1:9/v1\", model: s}]\n"
                f"log: {{ sqlite: {db} }}\n")
    ex = os.path.join(d, "export.jsonl")
    rc, out, err = run("label", "export", "--config", cfg, "--out", ex)
    rows = [json.loads(x) for x in open(ex)]
    check(rc == 0 and len(rows) == 11 and all(r["label"] is None for r in rows), f"label export: {err} {rows[:2]}")
    labels = os.path.join(d, "labels.jsonl")
    with open(labels, "w") as f:
        for r in rows[:9]:
            n = int(r["prompt"].rsplit("#", 1)[1])
            f.write(json.dumps({"id": r["id"], "label": ["small", "medium", "large"][n % 3]}) + "\n")
        f.write(json.dumps({"id": "log:9999", "label": "large"}) + "\n")  # no such row: skipped
        f.write(json.dumps({"id": rows[9]["id"], "label": None}) + "\n")  # still unlabelled
    rc, out, err = run("label", "import", "--config", cfg, "--in", labels)
    check(rc == 0 and "9 of 10 labels matched" in err and "9 stored" in err, f"label import: {err}")
    con = sqlite3.connect(db)
    got = dict(con.execute("SELECT request_id, label FROM requests"))
    con.close()
    want = {f"r{i}": ["small", "medium", "large"][i % 3] if i < 9 else None for i in range(12)}
    check(got == want, f"labels in the log: {got}")
    rc, out, err = run("label", "export", "--config", cfg)
    check(rc == 0 and len(out.splitlines()) == 2, f"export lists only the unlabelled: {out}")
    model = os.path.join(d, "fromlog.ubj")
    rc, out, err = run("train", "--from-log", "--config", cfg, "--out", model, "--trees", "2", "--dim", "64",
                       "--val", "0", "--nthread", "1", "--quiet")
    check(rc == 0 and "9 labelled rows from the request log" in err, f"train --from-log: {rc} {err}")
    rc, out, err = run("label", "import", "--config", os.path.join(d, "nolog.yaml"), "--in", labels)
    check(rc == 1, "import with a missing config fails")


def check(cond, msg):
    if not cond:
        print("FAIL:", msg)
        sys.exit(1)


def main():
    with tempfile.TemporaryDirectory() as d:
        data, model, out_csv = os.path.join(d, "d.jsonl"), os.path.join(d, "m.ubj"), os.path.join(d, "c.csv")
        write_data(data)

        rc, out, err = run("train", "--data", data, "--out", model, "--trees", "6", "--depth", "3", "--dim", "256",
                           "--eta", "0.5", "--nthread", "1", "--quiet")
        check(rc == 0, f"train failed: {err}")
        check(os.path.exists(model) and os.path.exists(model + ".meta.json"), "model files missing")
        check("validation:" in out and "oracle" in out, f"train prints validation metrics: {out}")
        m = re.search(r"default threshold ([0-9.]+): cost ([0-9.]+)", out)
        check(m is not None, f"train calibrates the default threshold: {out}")
        meta = json.load(open(model + ".meta.json"))
        check(abs(meta["threshold"] - float(m.group(1))) < 1e-4, "sidecar keeps the calibrated threshold")
        check(meta["features"]["dim"] == 256 and meta["tiers"] == ["small", "medium", "large"], f"sidecar {meta}")

        rc, out, err = run("eval", "--data", data, "--model", model, "--csv", out_csv, "--thresholds", "0.3,0.5,0.7")
        check(rc == 0, f"eval failed: {err}")
        check("baselines" in out and "classifier curve" in out, "eval output sections")
        rows = list(csv.DictReader(open(out_csv)))
        by = {(r["router"], r["threshold"], r["group"]): r for r in rows}
        small = by[("all-small", "0.0000", "all")]
        large = by[("all-large", "0.0000", "all")]
        check(abs(float(small["cost"]) - 8 / 405) < 1e-4, "all-small cost is 8/405")
        check(abs(float(large["cost"]) - 1) < 1e-9 and abs(float(large["pgr"]) - 1) < 1e-9, "all-large")
        oracle = by[("oracle", "0.0000", "all")]
        check(abs(float(oracle["pgr"]) - 1) < 1e-9, "oracle recovers the whole gap here")
        for t in ("0.3000", "0.5000", "0.7000"):
            for g in ("all", "lang=en", "lang=zh", "source=syn", "source=syn2"):
                check(("classifier", t, g) in by and ("random", t, g) in by, f"curve point {t} {g}")
        # the classes are separable: the classifier routes like the oracle at 0.5
        c = by[("classifier", "0.5000", "all")]
        check(float(c["pgr"]) > 0.95 and abs(float(c["cost"]) - float(oracle["cost"])) < 0.05, f"classifier {c}")
        check(float(by[("random", "0.5000", "all")]["pgr"]) < 0.8, "random at the same mix is worse")

        rc, out, err = run("calibrate", "--data", data, "--model", model, "--target-large", "0.33")
        check(rc == 0, f"calibrate failed: {err}")
        m = re.search(r"large ([0-9.]+)%", out)
        check(m and abs(float(m.group(1)) - 33.3) < 2, f"calibrated large share: {out}")
        check("threshold:" in out, "calibrate prints the config line")
        rc, out, err = run("calibrate", "--data", data, "--model", model, "--target-cost", "0.2", "--write")
        m = re.search(r"threshold ([0-9.]+) ->", out)
        check(rc == 0 and m, f"calibrate --write: {out} {err}")
        meta = json.load(open(model + ".meta.json"))
        check(abs(meta["threshold"] - float(m.group(1))) < 1e-4, "calibrate --write stores the threshold")

        # two folds: each model holds out one half; eval joins them into every row
        folds = []
        for f in (0, 1):
            fm = os.path.join(d, f"fold{f}.ubj")
            rc, out, err = run("train", "--data", data, "--out", fm, "--trees", "3", "--dim", "128", "--nthread", "1",
                               "--folds", "2", "--fold", str(f), "--quiet")
            check(rc == 0, f"train fold {f}: {err}")
            folds.append(fm)
        rc, out, err = run("eval", "--data", data, "--model", ",".join(folds), "--split", "heldout")
        check(rc == 0 and "split heldout: 120 of 120 rows" in out, f"joined folds cover every row: {out[:300]} {err}")
        rc, out, err = run("eval", "--data", data, "--model", ",".join(folds))
        check(rc == 1 and "heldout" in err, f"several models need --split heldout: {err}")

        # target "gain": per-tier quality regression, routed by gain per cost
        gm = os.path.join(d, "gain.ubj")
        rc, out, err = run("train", "--data", data, "--out", gm, "--target", "gain", "--trees", "20", "--depth", "3",
                           "--dim", "256", "--eta", "0.5", "--nthread", "1", "--quiet")
        check(rc == 0 and "RMSE" in out, f"train --target gain: {out} {err}")
        meta = json.load(open(gm + ".meta.json"))
        check(meta["target"] == "gain", f"sidecar target: {meta}")
        rc, out, err = run("eval", "--data", data, "--model", gm, "--csv", out_csv, "--thresholds", "0.6")
        check(rc == 0, f"eval gain model: {err}")
        c = {(r["router"], r["group"]): r for r in csv.DictReader(open(out_csv))}[("classifier", "all")]
        check(float(c["pgr"]) > 0.95, f"gain model routes like the oracle at 0.6: {c}")
        # per-language thresholds: each language calibrated to the cost on its own rows
        rc, out, err = run("calibrate", "--data", data, "--model", gm, "--target-cost", "0.3", "--per-lang", "--write")
        check(rc == 0 and re.search(r"^en \(80 rows\)", out, re.M) and re.search(r"^zh \(40 rows\)", out, re.M),
              f"calibrate --per-lang: {out} {err}")
        meta = json.load(open(gm + ".meta.json"))
        check(set(meta.get("threshold_by_lang", {})) == {"en", "zh"}, f"per-language thresholds stored: {meta}")
        rc, out, err = run("calibrate", "--data", data, "--model", gm, "--target-cost", "0.3", "--write")
        check(rc == 0 and "threshold_by_lang" not in json.load(open(gm + ".meta.json")), "one knob clears them")

        label_loop(d)

        rc, out, err = run("eval", "--data", data, "--model", os.path.join(d, "none.ubj"))
        check(rc == 1 and "cannot open" in err, f"missing model: {rc} {err}")
        rc, out, err = run("train", "--data", data, "--out", model, "--val", "2")
        check(rc == 2 and "--val" in err, f"bad --val: {rc} {err}")
        rc, out, err = run("calibrate", "--data", data, "--model", model)
        check(rc == 2 and "target" in err, f"calibrate without a target: {rc} {err}")
    print("ok")


if __name__ == "__main__":
    main()
