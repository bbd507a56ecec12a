"""Customer feedback classification: rules from the rules file plus a small trained model.

Import :mod:`streams.classify.feedback.classifier` for the public API; this package's own
import stays cheap (no scikit-learn) because the rules code imports the config from here.
"""
