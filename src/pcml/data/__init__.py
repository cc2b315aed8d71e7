"""pcml.data"""
