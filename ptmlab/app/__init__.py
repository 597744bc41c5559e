"""The standalone app: `ptmlab explore` serves the visual explorer (explorer.ipynb, logic in the explorer/ package) with Voila.

Voila (voila-dashboards) turns a notebook into a web app with no code cells shown; see ptmlab/app/explorer/__init__.py."""
