"""SmartLearn's LoRA fine-tuning pipeline: configs, data prep, training, evaluation, reports.

`python -m training train|sweep|eval` (see README.md). Uses tutor's config, types and backends;
tutor never imports this package.
"""
