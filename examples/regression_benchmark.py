"""In-context regression on Friedman #2: classical regressors vs the package's in-context learners.

The optim_hunter blog compared an LLM prompted with 25 examples against scikit-learn regressors --
but the regressors were fitted on all 64 training rows and scored on all 32 test rows, while
the LLM saw 25 rows and was scored on one.  This script

1. shows what one task looks like (the prompt text the LLM saw),
2. reproduces the blog's published averages with the blog's scikit-learn estimators (blog
   protocol; needs ``pip install "aievo[sklearn]"``) and shows, for the rows whose average depends
   on floating-point rounding, the range measured across environments,
3. re-scores everything on the same footing (consistent protocol: first 25 rows, test row 0),
   including gradient descent, in-context ridge, the mesa layer and a trained linear
   self-attention layer used as regressors,
4. saves a figure comparing the two protocols.

Run:  python examples/regression_benchmark.py [--quick] [--out DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from aievo.mesa.regression import (  # noqa: E402
    FLOAT_SENSITIVE,
    PUBLISHED_BLOG_MSE,
    compare_published,
    get_original2,
    prepare_prompt,
    regression_benchmark,
    reproducibility_summary,
    slice_dataset,
)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 seeds, no Bayesian ridge, no trained LSA")
    parser.add_argument("--out", default=".", help="directory for the PNG")
    args = parser.parse_args(argv)

    # 1. One task, as the LLM saw it: 25 examples and a query.
    X_train, y_train, X_test, y_test = slice_dataset(*get_original2(random_state=0), n=25)
    prompt = prepare_prompt(X_train, y_train, X_test)
    print("prompt (first 3 examples and the query):")
    lines = prompt.splitlines()
    print("\n".join(lines[: 5 + 3 * 6 - 1]) + "\n...\n" + "\n".join(lines[-5:]))
    print(f"(true output of the query: {y_test[0]:.3f})\n")

    # 2. The blog protocol reproduces the published 100-seed averages exactly.
    classical = ["ridge", "lasso", "knn", "average"] + ([] if args.quick else ["bayesian_regression"])
    blog = regression_benchmark("original2", classical, seeds=range(100), protocol="blog")
    print("blog protocol, 100 seeds: published vs reproduced")
    print(compare_published(blog))
    summary = reproducibility_summary()
    print(f"float-sensitive rows: published vs the range of 100-seed means over {len(summary['runs'])} "
          "recorded runs (benchmarks/regression_reproducibility.py)")
    for name in FLOAT_SENSITIVE:
        row = summary["methods"][name]
        print(f"  {name:18s} published {PUBLISHED_BLOG_MSE[name]:12.2f}   measured "
              f"{row['min_mean']:12.2f} .. {row['max_mean']:12.2f}")
    print()

    # 3. The consistent protocol: everyone sees the same 25 rows and is scored on test row 0.
    seeds = range(10 if args.quick else 100)
    icl = ["icl_gd_1step", "icl_gd_10step", "icl_ridge", "icl_mesa"] + ([] if args.quick else ["icl_lsa"])
    methods = classical + ["knn_v4", "random"] + icl
    fair = regression_benchmark("original2", methods, seeds=seeds, protocol="consistent")
    print(fair.to_markdown())
    for name, note in fair.notes.items():
        print(f"- {name}: {note}")

    # 4. Both protocols side by side.
    blog_all = regression_benchmark("original2", methods, seeds=seeds, protocol="blog")
    fig, axes = plt.subplots(1, 2, figsize=(14, 0.4 * len(methods) + 2.4), layout="constrained")
    blog_all.plot(ax=axes[0])
    fair.plot(ax=axes[1])
    axes[0].set_title("blog protocol: fit on 64 rows, scored on 32", fontsize=11)
    axes[1].set_title("consistent protocol: 25 rows, test row 0", fontsize=11)
    fig.suptitle(f"Friedman #2 ('original2'), {len(fair.seeds)} seeds: per-seed MSE", fontsize=13)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "regression_benchmark.png", dpi=120)
    print(f"\nfigure: {out / 'regression_benchmark.png'}")


if __name__ == "__main__":
    main()
