"""Probes: targeted tests of what trained encoders capture (agreement at a distance, polysemy, and later chapters').

Each probe trains or reads a model and returns numbers and figures; survey Sections 2.2 and 7 (Qiu et al. 2020)."""
