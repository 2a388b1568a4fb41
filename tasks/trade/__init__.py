"""trade"""
