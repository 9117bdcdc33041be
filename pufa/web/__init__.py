"""Web front-ends: the Gradio chat, the article pages, administration, served by one FastAPI app."""
