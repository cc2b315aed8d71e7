"""pcml.experiments"""
