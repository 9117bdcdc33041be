"""Pufa 普法助手: a cited legal-outreach assistant for an ecology-and-environment bureau.

The package is cut along the data's way through the system:
corpus sources → statute parsing → catalog / lexical / dense indexes → retrieval → answers →
front-ends, with evaluation beside them. Importing it is cheap; heavy libraries load lazily.
"""

__version__ = "0.1.0"
