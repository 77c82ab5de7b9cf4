"""`robustness` command line. Heavy libraries (torch, transformers, ranx) load only inside
commands, so `robustness --help` and `robustness list` answer at once."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from robustness.errors import RobustnessError

def _fail(exc: RobustnessError) -> None:
    click.echo(f"error: {exc}", err=True)
    sys.exit(2)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log progress details.")
def main(verbose: bool) -> None:
    """Robustness and adversarial evaluation of neural ranking models."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


@main.command()
@click.argument("spec", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a spec field, e.g. --set max_queries=50 or --set tasks.0.params.max_queries=5.")
@click.option("--ranker", "extra_rankers", multiple=True, metavar="TYPE", help="Add a ranker: a built-in name, an entry-point name or module:Class.")
@click.option("--output", type=click.Path(file_okay=False, path_type=Path), help="Results directory (default: the spec's output_dir).")
@click.option("--no-progress", is_flag=True, help="Hide progress bars.")
def run(spec: Path | None, overrides: tuple[str, ...], extra_rankers: tuple[str, ...], output: Path | None, no_progress: bool) -> None:
    """Run a benchmark SPEC (default: benchmarks/specs/default.yaml) and write its report."""
    try:
        from robustness.config import DEFAULT_SPEC, load_spec
        from robustness.report.markdown import render_summary
        from robustness.runner import run_benchmark

        spec_path = spec or DEFAULT_SPEC
        loaded = load_spec(spec_path, overrides)
        if extra_rankers:
            data = loaded.model_dump()
            data["rankers"] += [{"type": r} for r in extra_rankers]
            loaded = load_spec(data=data)
        results = run_benchmark(loaded, output_dir=output, progress=not no_progress)
    except RobustnessError as exc:
        _fail(exc)
        return
    click.echo(render_summary(results.data))
    click.echo(f"\nresults: {results.output_dir / 'results.json'}  report: {results.output_dir / 'report.md'}")
    if results.errors:
        sys.exit(1)


@main.command(name="train-ranker")
@click.option("--dataset", default="scifact", show_default=True, help="Collection whose train split is used.")
@click.option("--split", default="train", show_default=True)
@click.option("--seed", default=13, show_default=True, type=int)
@click.option("--max-length", default=128, show_default=True, type=int, help="Tokens per (query, document) pair.")
@click.option("--epochs", default=1, show_default=True, type=int)
@click.option("--per-positive", default=3, show_default=True, type=int, help="BM25 negatives per relevant document.")
def train_ranker(dataset: str, split: str, seed: int, max_length: int, epochs: int, per_positive: int) -> None:
    """Fine-tune a MiniLM cross-encoder victim on a collection's train split (cached)."""
    try:
        from robustness.training.victims import train_cross_encoder

        path = train_cross_encoder(dataset, split, per_positive=per_positive, seed=seed, max_length=max_length, epochs=epochs)
    except RobustnessError as exc:
        _fail(exc)
        return
    click.echo(f"trained cross-encoder: {path}")
    click.echo(f"use it in a spec as: {{type: trained-cross-encoder, params: {{dataset: {dataset}, seed: {seed}, max_length: {max_length}, epochs: {epochs}, per_positive: {per_positive}}}}}")


@main.command(name="list")
@click.argument("kind", required=False, type=click.Choice(["datasets", "rankers", "tasks", "attacks", "certifiers", "detectors", "synonym_sources", "query_variations"]))
@click.option("--params", "show_params", is_flag=True, help="Also show each component's parameters.")
def list_(kind: str | None, show_params: bool) -> None:
    """List the datasets and the registered components of each KIND (default: all)."""
    from robustness.data.loaders import available_datasets
    from robustness.registry import KINDS, describe

    plural = {f"{k}s" if not k.endswith("s") else k: k for k in KINDS}
    if kind in (None, "datasets"):
        _print_entries("datasets", {name: (text, []) for name, text in available_datasets().items()}, False)
    for title, registry_kind in plural.items():
        if kind in (None, title):
            _print_entries(title, describe(registry_kind), show_params)


def _print_entries(title: str, entries: dict, show_params: bool) -> None:
    click.echo(f"{title}:")
    if not entries:
        click.echo("  (none registered)")
        return
    width = max(len(k) for k in entries)
    for key, (description, params) in entries.items():
        click.echo(f"  {key:<{width}}  {description}")
        if show_params and params:
            click.echo(" " * (width + 4) + "params: " + ", ".join(str(p) for p in params))


if __name__ == "__main__":
    main()
