"""Experiments: sweeps over variants and hyper-parameters, baselines, comparisons of runs."""
