"""Model providers: OpenAI, Gemini, OpenAI-compatible servers, and offline."""
