"""The assessment service's rules, by subject: co-building agreements 共驻共建 and their
fulfilment records, coordination meetings, the facilities units open, indicators as
versioned data, scores computed from every service's figures, and model-community
applications."""
