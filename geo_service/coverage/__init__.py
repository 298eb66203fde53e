"""Coverage analysis for planners: reach of sites, plan indicators, site suggestion."""
