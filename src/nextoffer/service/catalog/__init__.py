"""The catalog (products, offers, channels, policies, rules, settings) and publishing."""
