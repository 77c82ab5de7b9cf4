"""Defences (installed as `robustness.defenses`): certifiers, detectors, robust training.

Implementations follow `robustness.protocols.defense` and are registered under the entry-point
groups `robustness.certifiers` and `robustness.detectors`; the `certification` and `detection`
tasks find them by name. Robust-training recipes use the project's pairwise trainer
(`robustness.training`).
"""
