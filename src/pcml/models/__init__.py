"""pcml.models"""

# probabilistic Step-1 backbones (ProbConserv)
from pcml.models.anp import AttentiveNeuralProcess as AttentiveNeuralProcess
from pcml.models.base import MixturePrediction as MixturePrediction
from pcml.models.base import ProbabilisticBackbone as ProbabilisticBackbone
from pcml.models.boon import BOON as BOON  # neural operators with exact BCs (BOON)
from pcml.models.ensemble import DeepEnsemble as DeepEnsemble
from pcml.models.fno import FNO as FNO
from pcml.models.fno import FourierLayer as FourierLayer
from pcml.models.fno import SpectralConv as SpectralConv
from pcml.models.gp import ExactGP as ExactGP
