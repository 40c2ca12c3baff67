"""inspect_ai without a network: the base of the scripted models tests and benchmarks run.

A model registered through inspect's own `@modelapi` and derived from this class
answers as its `generate` scripts it and counts tokens itself: inspect's default
counter (and its `mockllm` model) uses tiktoken, whose encoding data is downloaded
on first use, which these machines cannot do.
"""

from __future__ import annotations

from typing import Any

from inspect_ai.model import GenerateConfig, ModelAPI


class OfflineModel(ModelAPI):
    """A ModelAPI with inspect's constructor and a token count that needs no download."""

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig | None = None,
        **model_args: Any,  # noqa: ARG002
    ) -> None:
        super().__init__(model_name, base_url, api_key, [], config or GenerateConfig())

    async def count_text_tokens(self, text: str) -> int:
        return len(text) // 4 + 1
