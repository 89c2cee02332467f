"""Civil registry: the payee must exist, with the same name and birth date.

Names are compared by payroll.names: equal keys are the same name; otherwise a similarity score above
the policy's threshold is a NAME_VARIANT (WARN, paid), at or below it an IDENTITY_MISMATCH (HOLD). A
birth date that differs is always an IDENTITY_MISMATCH. The evidence shows both values and the score.
"""

from __future__ import annotations

import pandas as pd

from payroll.checks import CheckResult, Reference, exceptions_frame, result
from payroll.checks.engine import Table, query, ref_input, rows_input
from payroll.names import name_key, similarity
from payroll.period import Period

# raw values that differ are few; only those are normalized and scored
_CANDIDATES = """
SELECT r.row_key, r.full_name, r.birth_date, g.national_id IS NULL AS missing,
       g.full_name AS reg_name, g.birth_date AS reg_birth
FROM rows r LEFT JOIN registry g ON g.national_id = r.national_id
WHERE g.national_id IS NULL OR r.full_name IS DISTINCT FROM g.full_name OR r.birth_date IS DISTINCT FROM g.birth_date
ORDER BY r.row_key
"""


def check(rows: Table, ref: Reference, period: Period) -> CheckResult:
    m = query(_CANDIDATES, rows=rows_input(rows, ["national_id", "full_name", "birth_date"]),
              registry=ref_input(ref.registry, ["national_id", "full_name", "birth_date"]))
    missing = m[m["missing"]]
    found = m[~m["missing"]].reset_index(drop=True)
    threshold = ref.policy.name_similarity_threshold
    name_differs = (name_key(found["full_name"]) != name_key(found["reg_name"])).to_numpy(bool)
    birth_differs = (found["birth_date"] != found["reg_birth"]).to_numpy(bool)
    score = pd.Series(100.0, index=found.index)
    score[name_differs] = similarity(found["full_name"][name_differs], found["reg_name"][name_differs])
    hold = birth_differs | (name_differs & (score.to_numpy() <= threshold))
    warn = name_differs & ~hold

    records = found[["full_name", "birth_date", "reg_name", "reg_birth"]].to_dict("records")
    scores = score.to_numpy()

    def evidence(i: int) -> dict[str, object]:
        r = records[i]
        fields = [f for f, differs in (("full_name", name_differs[i]), ("birth_date", birth_differs[i])) if differs]
        said = []
        if name_differs[i]:
            rel = "above" if scores[i] > threshold else "at or below"
            said.append(f"name in file '{r['full_name']}', in registry '{r['reg_name']}': similarity {scores[i]:g} "
                        f"{rel} the threshold {threshold:g}")
        if birth_differs[i]:
            said.append(f"birth date in file {r['birth_date']}, in registry {r['reg_birth']}")
        return {"fields": fields, "file": {"full_name": r["full_name"], "birth_date": r["birth_date"]},
                "registry": {"full_name": r["reg_name"], "birth_date": r["reg_birth"]},
                "name_score": float(scores[i]), "threshold": threshold, "evidence": "; ".join(said)}

    held = [i for i in range(len(found)) if hold[i]]
    warned = [i for i in range(len(found)) if warn[i]]
    return result(rows, [
        exceptions_frame(missing["row_key"], "NOT_IN_REGISTRY",
                         [{"reason": "national id not found in the civil registry extract",
                           "evidence": "national id not found in the civil registry extract"}] * len(missing)),
        exceptions_frame(found["row_key"].iloc[held], "IDENTITY_MISMATCH", [evidence(i) for i in held]),
        exceptions_frame(found["row_key"].iloc[warned], "NAME_VARIANT", [evidence(i) for i in warned]),
    ])
