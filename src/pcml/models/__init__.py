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

# uncertainty-aware neural operators (Operator-ProbConserv)
from pcml.models.uq_operators import DiverseNO as DiverseNO
from pcml.models.uq_operators import EnsembleFNO as EnsembleFNO
from pcml.models.uq_operators import MCDropoutFNO as MCDropoutFNO
from pcml.models.uq_operators import MeanVarFNO as MeanVarFNO
from pcml.models.uq_operators import UQOperator as UQOperator
from pcml.models.uq_operators import conserve_prediction as conserve_prediction
from pcml.models.uq_operators import uq_operator as uq_operator
from pcml.models.uq_operators import uq_operator_from as uq_operator_from
