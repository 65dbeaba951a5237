def add_parser(sub, add_paths):
    pass
