"""pcml.models"""
