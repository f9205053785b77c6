"""The README's configuration reference is the one generated from the config model."""

from tooling.docs import README, readme_with_reference


def test_readme_config_reference_is_generated_from_the_model():
    current = README.read_text()
    assert current == readme_with_reference(current), (
        "README.md's config reference is stale: run `uv run python -m tooling.docs --write`"
    )
