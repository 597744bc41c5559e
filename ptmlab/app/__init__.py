"""The standalone app: `ptmlab explore` serves the visual explorer (explorer.ipynb, logic in explorer.py) with Voila.

Voila (voila-dashboards) turns a notebook into a web app with no code cells shown; see ptmlab/app/explorer.py."""
