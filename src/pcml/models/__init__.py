"""pcml.models"""

# probabilistic Step-1 backbones (ProbConserv)
from pcml.models.anp import AttentiveNeuralProcess as AttentiveNeuralProcess
from pcml.models.base import MixturePrediction as MixturePrediction
from pcml.models.base import ProbabilisticBackbone as ProbabilisticBackbone
from pcml.models.ensemble import DeepEnsemble as DeepEnsemble
from pcml.models.gp import ExactGP as ExactGP
