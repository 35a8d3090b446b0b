"""Regenerate the example datasets in configs/data/ (deterministic: fixed seeds).

    python configs/make_data.py

iris.csv is Fisher's iris data (150 rows), written once from scikit-learn's bundled copy and kept as is.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parent / "data"


def xor() -> pd.DataFrame:
    return pd.DataFrame({"x1": [0, 0, 1, 1], "x2": [0, 1, 0, 1], "label": [0, 1, 1, 0]})


def moons(rows: int, noise: float, rng: np.random.Generator) -> pd.DataFrame:
    """Two interleaved half circles, as scikit-learn's make_moons."""
    half = rows // 2
    angle_outer = np.linspace(0, np.pi, half)
    angle_inner = np.linspace(0, np.pi, rows - half)
    x = np.concatenate([np.cos(angle_outer), 1 - np.cos(angle_inner)])
    y = np.concatenate([np.sin(angle_outer), 1 - np.sin(angle_inner) - 0.5])
    points = np.stack([x, y], axis=1) + rng.normal(scale=noise, size=(rows, 2))
    labels = np.concatenate([np.zeros(half, int), np.ones(rows - half, int)])
    order = rng.permutation(rows)
    return pd.DataFrame({"x": points[order, 0].round(5), "y": points[order, 1].round(5), "label": labels[order]})


def friedman(rows: int, rng: np.random.Generator) -> pd.DataFrame:
    """Friedman #1 regression: y = 10 sin(pi x1 x2) + 20 (x3 - 0.5)^2 + 10 x4 + 5 x5 + noise; x6..x8 unused."""
    x = rng.uniform(size=(rows, 8))
    y = 10 * np.sin(np.pi * x[:, 0] * x[:, 1]) + 20 * (x[:, 2] - 0.5) ** 2 + 10 * x[:, 3] + 5 * x[:, 4]
    y += rng.normal(scale=0.5, size=rows)
    frame = pd.DataFrame(x.round(5), columns=[f"x{i + 1}" for i in range(8)])
    frame["target"] = y.round(5)
    return frame


def loans(rows: int, rng: np.random.Generator) -> pd.DataFrame:
    """Mixed numeric and categorical features deciding a yes/no label."""
    age = rng.integers(18, 75, size=rows)
    income = rng.gamma(4.0, 12000.0, size=rows).round(0)
    city = rng.choice(["Tallinn", "Tartu", "Narva", "Parnu"], size=rows)
    plan = rng.choice(["basic", "plus", "premium"], size=rows, p=[0.5, 0.3, 0.2])
    city_effect = pd.Series(city).map({"Tallinn": 0.8, "Tartu": 0.3, "Narva": -0.9, "Parnu": -0.2}).to_numpy()
    plan_effect = pd.Series(plan).map({"basic": -0.7, "plus": 0.2, "premium": 1.0}).to_numpy()
    score = (income - 45000) / 15000 + city_effect + plan_effect - 0.04 * np.abs(age - 45)
    score += rng.normal(scale=0.25, size=rows)
    return pd.DataFrame({"age": age, "income": income, "city": city, "plan": plan,
                         "approved": np.where(score > 0, "yes", "no")})


def survey(rows: int, rng: np.random.Generator) -> pd.DataFrame:
    """A survey export as public sources ship it: "?" and "-" for unknown answers, empty cells, a rare region,
    rows without a rating, and ratings written 1.0/2.0/3.0 (a float column in pandas)."""
    age = rng.integers(18, 80, size=rows)
    hours = rng.normal(38, 9, size=rows).clip(0, 80).round(1)
    education = rng.choice(["basic", "secondary", "college", "university"], size=rows, p=[0.2, 0.35, 0.25, 0.2])
    region = rng.choice(["north", "south", "east", "west", "islands"], size=rows, p=[0.3, 0.3, 0.2, 0.19, 0.01])
    score = (pd.Series(education).map({"basic": -1.2, "secondary": -0.3, "college": 0.4, "university": 1.1})
             .to_numpy() + (hours - 38) / 9 - 0.8 * ((age - 45) / 18) ** 2
             + pd.Series(region).map({"north": 0.3, "south": -0.3}).fillna(0).to_numpy())
    score += rng.normal(scale=0.3, size=rows)
    rating = np.digitize(score, np.quantile(score, [1 / 3, 2 / 3])) + 1.0
    frame = pd.DataFrame({"age": age.astype(object), "hours": hours, "education": education, "region": region,
                          "rating": rating})
    frame.loc[rng.random(rows) < 0.03, "age"] = "?"
    frame.loc[rng.random(rows) < 0.03, "hours"] = np.nan
    frame.loc[rng.random(rows) < 0.02, "region"] = "-"
    frame.loc[rng.random(rows) < 0.02, "rating"] = np.nan
    return frame


def shops(rows: int, rng: np.random.Generator, shop_count: int = 300) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A high-cardinality column: `shop_count` shops, a few big and many small (Zipf-like), each with its own
    latent taste (a bias and a slope on `price`) that decides, with `price` and `rating`, whether a visitor buys.
    Train (`rows` rows) and test (a quarter of that) share the shops."""
    names = np.array([f"shop{i:03d}" for i in range(shop_count)])
    weights = 1.0 / np.arange(1, shop_count + 1) ** 0.6
    bias, slope = rng.normal(size=shop_count), rng.normal(size=shop_count)

    def draw(count: int) -> pd.DataFrame:
        shop = rng.choice(shop_count, size=count, p=weights / weights.sum())
        price, rating = rng.normal(size=count), rng.normal(size=count)
        score = 1.5 * bias[shop] + 1.5 * slope[shop] * price + 0.7 * rating + rng.normal(scale=0.3, size=count)
        return pd.DataFrame({"price": price.round(4), "rating": rating.round(4), "shop": names[shop],
                             "bought": np.where(score > 0, "yes", "no")})

    return draw(rows), draw(rows // 4)


def main() -> None:
    DATA.mkdir(exist_ok=True)
    rng = np.random.default_rng(2024)
    xor().to_csv(DATA / "xor.csv", index=False)
    moons(1000, 0.2, rng).to_csv(DATA / "moons_train.csv", index=False)
    moons(500, 0.2, rng).to_csv(DATA / "moons_test.csv", index=False)
    friedman(1500, rng).to_csv(DATA / "friedman_train.csv", index=False)
    friedman(500, rng).to_csv(DATA / "friedman_test.csv", index=False)
    loans(1500, rng).to_csv(DATA / "loans_train.csv", index=False)
    loans(500, rng).to_csv(DATA / "loans_test.csv", index=False)
    survey_rng = np.random.default_rng(11)
    survey(1500, survey_rng).to_csv(DATA / "survey_train.csv")  # with the index, as `to_csv()` writes by default
    survey(500, survey_rng).to_csv(DATA / "survey_test.csv")
    shops_train, shops_test = shops(4000, np.random.default_rng(7))
    shops_train.to_csv(DATA / "shops_train.csv", index=False)
    shops_test.to_csv(DATA / "shops_test.csv", index=False)


if __name__ == "__main__":
    main()
