"""The project's own dbt-bouncer checks (dbt-bouncer.yml, custom_checks_dir).

dbt-bouncer loads every Check* class of a file under <custom_checks_dir>/manifest/.
"""

from dbt_bouncer.check_framework.decorator import check, fail


@check
def check_source_feeds_only_its_own_models(source, ctx, *, model_name_templates: list[str]):
    """A source is read only by the models named after it.

    Each template names one model per source table, `{name}` standing for the table:
    `base_magento__{name}` and `history_magento__{name}` let a change log feed its
    current-state model and its history model, and nothing else.
    """
    allowed = {template.format(name=source.name) for template in model_name_templates}
    readers = sorted(model.name for model in ctx.children_by_unique_id.get(source.unique_id, []))
    others = [name for name in readers if name not in allowed]
    if others:
        fail(f"Source `{source.source_name}.{source.name}` is read by {others}; only {sorted(allowed)} may read it.")
