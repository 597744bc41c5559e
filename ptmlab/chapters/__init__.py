"""The chapters, one module (or package) per notebook and named after it: presets, arms, data, pre-train, score,
the paper's numbers and the chapter's own figures, each on the Experiment protocol. No chapter imports another."""
