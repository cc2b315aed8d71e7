"""pcml.constraints"""
