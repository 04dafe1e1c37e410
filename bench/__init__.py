"""Benchmarks. Each script prints one JSON object as its last line; `python -m bench all` runs them all.

Targets are checked as ratios against a baseline measured in the same run where the issue asks for
one (these machines are noisy), and absolute targets are reported next to the measured value.
"""
