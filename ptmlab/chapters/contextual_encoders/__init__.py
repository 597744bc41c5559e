"""Chapter 03, contextual encoders: a CNN, a BiLSTM and a Transformer of equal size on subject-verb agreement, and
one static vector per word against one contextual vector per occurrence (polysemy).

Tang et al. 2018, "Why Self-Attention?" (agreement at controlled distances); Ethayarajh 2019 (self-similarity).
Modules: presets (every preset and name), data (the agreement sentences), agreement (training, results, the
Experiment), polysemy (the probe), figures (pure plotly builders). The model class is ptmlab.models.agreement."""

from ptmlab.chapters.contextual_encoders.agreement import (
    EXPERIMENT,
    METRICS,
    AgreementResults,
    AgreementRun,
    ContextualEncodersExperiment,
    agreement_scores,
    attention_example,
    cpu_threads,
    matched_configs,
    run_agreement,
    train_classifier,
)
from ptmlab.chapters.contextual_encoders.data import AgreementData, EncodedSet, make_agreement_data
from ptmlab.chapters.contextual_encoders.polysemy import (
    PolysemyResult,
    WordPolysemy,
    polysemy_probe,
    run_polysemy,
    run_pretrained_polysemy,
)
from ptmlab.chapters.contextual_encoders.presets import (
    AGREEMENT_PRESETS,
    CONDITIONS,
    ENCODER_COLOURS,
    ENCODER_NAMES,
    ENCODERS,
    POLYSEMY_PRESETS,
    AgreementPreset,
    PolysemyPreset,
    cnn_max_distance,
    cnn_reach,
)
from ptmlab.models.agreement import AgreementClassifier, AgreementModelConfig, count_parameters

__all__ = [
    "AGREEMENT_PRESETS",
    "CONDITIONS",
    "ENCODERS",
    "ENCODER_COLOURS",
    "ENCODER_NAMES",
    "EXPERIMENT",
    "METRICS",
    "POLYSEMY_PRESETS",
    "AgreementClassifier",
    "AgreementData",
    "AgreementModelConfig",
    "AgreementPreset",
    "AgreementResults",
    "AgreementRun",
    "ContextualEncodersExperiment",
    "EncodedSet",
    "PolysemyPreset",
    "PolysemyResult",
    "WordPolysemy",
    "agreement_scores",
    "attention_example",
    "cnn_max_distance",
    "cnn_reach",
    "count_parameters",
    "cpu_threads",
    "make_agreement_data",
    "matched_configs",
    "polysemy_probe",
    "run_agreement",
    "run_polysemy",
    "run_pretrained_polysemy",
    "train_classifier",
]
