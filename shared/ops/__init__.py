"""Operations: what the status views (the CLI's and the web app's) report."""
