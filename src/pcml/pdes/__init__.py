"""pcml.pdes"""
