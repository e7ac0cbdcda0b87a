"""Reference implementations of classic Redis patterns, each proven by live tests.

Every redislint finding points to one of these as "use instead". Import the module you need,
for example ``from redislint.patterns.locks import Lock``; ``redislint patterns`` lists them.
"""
