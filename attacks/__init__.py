"""Attacks on rankers (installed as `robustness.attacks`): baselines and published recipes.

An attack implements `robustness.protocols.attack.Attack`: `attack(target, victim, rng) ->
AttackOutcome`. Each is registered under the entry-point group `robustness.attacks` (see
pyproject.toml) and built by name through `robustness.registry`; the core never imports this
package. Recipes assemble the shared pieces: constraints and transformations
(`components`), searches (`search`) and attacker-side models (`attacker_models`).
"""
