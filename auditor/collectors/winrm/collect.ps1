# auditor host collector, request/response contract version 1. Windows PowerShell 5.1.
# Reads only: registry values, local group members (by SID), certificates, RDP, IIS, sshd_config,
# session configurations, WinHTTP proxy, services and firewall rules. It never returns secrets:
# for IIS impersonation it reports whether a password is present, never the password.
# Input: -RequestJson (see auditor/collectors/winrm/request.py). Output: one JSON string.
param([Parameter(Mandatory = $true)][string]$RequestJson)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 2.0
$request = ConvertFrom-Json -InputObject $RequestJson

function New-Failure([System.Exception]$Exception) {
    $reason = 'collector_error'
    if ($Exception -is [System.UnauthorizedAccessException] -or
        $Exception -is [System.Security.SecurityException]) { $reason = 'access_denied' }
    if ($Exception -is [System.Management.Automation.CommandNotFoundException]) { $reason = 'not_supported' }
    @{ error = @{ reason = $reason; detail = $Exception.Message } }
}

function Invoke-Section([string]$Name, [scriptblock]$Body) {
    if (@($request.sections) -notcontains $Name) { return }
    try { $script:sections[$Name] = @{ ok = (& $Body) } }
    catch { $script:sections[$Name] = New-Failure $_.Exception }
}

function Get-RegistryEntry([string]$Path) {
    $parts = $Path -split '\\'
    if ($parts[0] -ne 'HKLM') { throw [System.ArgumentException]"only HKLM paths are read: $Path" }
    $subKey = ($parts[1..($parts.Count - 2)]) -join '\'
    $valueName = $parts[-1]
    $key = [Microsoft.Win32.Registry]::LocalMachine.OpenSubKey($subKey, $false)
    if ($null -eq $key) { return @{ present = $false; type = $null; data = $null } }
    try {
        if (@($key.GetValueNames()) -notcontains $valueName) {
            return @{ present = $false; type = $null; data = $null }
        }
        $kind = $key.GetValueKind($valueName)
        $data = $key.GetValue($valueName, $null, [Microsoft.Win32.RegistryValueOptions]::DoNotExpandEnvironmentNames)
        if ($kind -eq [Microsoft.Win32.RegistryValueKind]::Binary) { $data = [Convert]::ToBase64String($data) }
        $typeName = 'REG_' + $kind.ToString().ToUpperInvariant()
        if ($kind -eq [Microsoft.Win32.RegistryValueKind]::ExpandString) { $typeName = 'REG_EXPAND_SZ' }
        if ($kind -eq [Microsoft.Win32.RegistryValueKind]::MultiString) { $typeName = 'REG_MULTI_SZ' }
        if ($kind -eq [Microsoft.Win32.RegistryValueKind]::String) { $typeName = 'REG_SZ' }
        return @{ present = $true; type = $typeName; data = $data }
    }
    finally { $key.Close() }
}

function Get-CertificateFacts([System.Security.Cryptography.X509Certificates.X509Certificate2]$Cert) {
    $sans = @()
    foreach ($ext in $Cert.Extensions) {
        if ($ext.Oid.Value -eq '2.5.29.17') {
            $sans = @(($ext.Format($false) -split ', ') | ForEach-Object { ($_ -split '[=:]', 2)[-1] })
        }
    }
    $keySize = $null
    try { $keySize = $Cert.PublicKey.Key.KeySize } catch { $keySize = $null }
    @{
        thumbprint = $Cert.Thumbprint.ToUpperInvariant()
        subject = $Cert.Subject
        issuer = $Cert.Issuer
        self_signed = ($Cert.Subject -eq $Cert.Issuer)
        not_before = $Cert.NotBefore.ToUniversalTime().ToString('o')
        not_after = $Cert.NotAfter.ToUniversalTime().ToString('o')
        key_algorithm = $Cert.PublicKey.Oid.FriendlyName
        key_size = $keySize
        signature_algorithm = $Cert.SignatureAlgorithm.FriendlyName
        sans = $sans
        store = 'LocalMachine\My'
    }
}

function Get-IisSites {
    $assembly = [System.Reflection.Assembly]::LoadWithPartialName('Microsoft.Web.Administration')
    if ($null -eq $assembly) { return }
    $manager = New-Object Microsoft.Web.Administration.ServerManager
    $hostConfig = $manager.GetApplicationHostConfiguration()
    $authBase = 'system.webServer/security/authentication/'
    foreach ($site in $manager.Sites) {
        $bindings = @($site.Bindings | ForEach-Object {
            $port = 0
            if ($_.EndPoint) { $port = $_.EndPoint.Port }
            @{ protocol = $_.Protocol; port = $port; host = $_.Host; address = [string]$_.EndPoint }
        })
        $apps = @(foreach ($app in $site.Applications) {
            $location = $site.Name + $app.Path
            $anon = $hostConfig.GetSection($authBase + 'anonymousAuthentication', $location)
            $basic = $hostConfig.GetSection($authBase + 'basicAuthentication', $location)
            $digest = $hostConfig.GetSection($authBase + 'digestAuthentication', $location)
            $windows = $hostConfig.GetSection($authBase + 'windowsAuthentication', $location)
            $access = $hostConfig.GetSection('system.webServer/security/access', $location)
            $protection = $windows.GetChildElement('extendedProtection')
            $providers = @($windows.GetCollection('providers') | ForEach-Object { $_['value'] })
            $impersonation = @{ enabled = $false; user = $null; password_present = $false; password_encrypted = $false }
            $webConfig = Join-Path ([Environment]::ExpandEnvironmentVariables($app.VirtualDirectories['/'].PhysicalPath)) 'web.config'
            if (Test-Path -LiteralPath $webConfig) {
                [xml]$doc = Get-Content -LiteralPath $webConfig -Raw
                $systemWeb = $doc.SelectSingleNode('/configuration/system.web')
                $identity = $doc.SelectSingleNode('/configuration/system.web/identity')
                if ($null -ne $systemWeb -and $systemWeb.GetAttribute('configProtectionProvider')) {
                    $impersonation.password_encrypted = $true
                }
                if ($null -ne $identity) {
                    $impersonation.enabled = ($identity.GetAttribute('impersonate') -eq 'true')
                    $impersonation.user = $identity.GetAttribute('userName')
                    $impersonation.password_present = [bool]$identity.GetAttribute('password')
                }
            }
            @{
                path = $app.Path
                ssl_flags = @(([string]$access['sslFlags']) -split ',' | ForEach-Object { $_.Trim() } | Where-Object { $_ })
                auth = @{
                    anonymous = @{ enabled = [bool]$anon['enabled']; user = [string]$anon['userName'] }
                    basic = @{ enabled = [bool]$basic['enabled'] }
                    digest = @{ enabled = [bool]$digest['enabled'] }
                    windows = @{
                        enabled = [bool]$windows['enabled']
                        providers = $providers
                        extended_protection = @{ token_checking = [string]$protection['tokenChecking']; flags = [string]$protection['flags'] }
                    }
                }
                impersonation = $impersonation
            }
        })
        @{ name = $site.Name; id = [int]$site.Id; state = [string]$site.State; bindings = $bindings; applications = $apps; app_pool = $site.ApplicationDefaults.ApplicationPoolName }
    }
}

$script:sections = @{}
$registry = @{}
foreach ($path in @($request.registry)) {
    if (-not $path) { continue }
    try { $registry[$path] = Get-RegistryEntry $path }
    catch { $registry[$path] = New-Failure $_.Exception }
}

Invoke-Section 'os' {
    $os = Get-CimInstance -ClassName Win32_OperatingSystem
    $cs = Get-CimInstance -ClassName Win32_ComputerSystem
    @{
        caption = $os.Caption; version = $os.Version; build = [int]$os.BuildNumber
        product_type = [int]$os.ProductType; domain = $cs.Domain; joined = [bool]$cs.PartOfDomain
        hostname = $env:COMPUTERNAME
    }
}
Invoke-Section 'local_groups' {
    $groups = @{}
    foreach ($sid in @($request.local_groups)) {
        $groups[$sid] = @(Get-LocalGroupMember -SID $sid -ErrorAction Stop | ForEach-Object {
            @{ sid = $_.SID.Value; name = $_.Name; class = $_.ObjectClass; domain = $_.PrincipalSource.ToString() }
        })
    }
    $groups
}
Invoke-Section 'certificates' {
    @(Get-ChildItem -Path Cert:\LocalMachine\My | ForEach-Object { Get-CertificateFacts $_ })
}
Invoke-Section 'rdp' {
    $setting = Get-CimInstance -Namespace root\cimv2\TerminalServices -ClassName Win32_TSGeneralSetting -Filter "TerminalName='RDP-tcp'"
    @{ certificate_thumbprint = [string]$setting.SSLCertificateSHA1Hash }
}
Invoke-Section 'iis' { @{ sites = @(Get-IisSites) } }
Invoke-Section 'ssh' {
    $path = Join-Path $env:ProgramData 'ssh\sshd_config'
    if (-not (Test-Path -LiteralPath $path)) { return @{ present = $false; path = $path } }
    @{ present = $true; path = $path; lines = @(Get-Content -LiteralPath $path) }
}
Invoke-Section 'session_configurations' {
    @(Get-PSSessionConfiguration | ForEach-Object {
        @{
            name = $_.Name; enabled = [bool]$_.Enabled; permission = [string]$_.Permission
            sddl = [string]$_.SecurityDescriptorSddl; run_as_virtual_account = [bool]$_.RunAsVirtualAccount
            session_type = [string]$_.SessionType; language_mode = [string]$_.LanguageMode
        }
    })
}
Invoke-Section 'winhttp_proxy' {
    Get-RegistryEntry 'HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Internet Settings\Connections\WinHttpSettings'
}

function Get-RegistryKeyValues([string]$Path, [int]$Depth) {
    # Every value of a key, each as Get-RegistryEntry reads it, and its subkeys' down to $Depth.
    $key = [Microsoft.Win32.Registry]::LocalMachine.OpenSubKey(($Path -split '\\', 2)[1], $false)
    if ($null -eq $key) { return @{ present = $false; values = @{}; subkeys = @{} } }
    try {
        $values = @{}
        foreach ($name in @($key.GetValueNames())) { $values[$name] = Get-RegistryEntry ($Path + '\' + $name) }
        $subkeys = @{}
        if ($Depth -gt 0) {
            foreach ($name in @($key.GetSubKeyNames())) { $subkeys[$name] = Get-RegistryKeyValues ($Path + '\' + $name) ($Depth - 1) }
        }
        @{ present = $true; values = $values; subkeys = $subkeys }
    }
    finally { $key.Close() }
}
Invoke-Section 'credssp_delegation' {
    Get-RegistryKeyValues 'HKLM\SOFTWARE\Policies\Microsoft\Windows\CredentialsDelegation' 1
}
# Offline requests only (online, the scanner reads these over WS-Man): WinRM's configuration
# and listeners as the WS-Man scripting API returns them, the text winrm.cmd prints with
# -format:xml.
Invoke-Section 'winrm_config' {
    $session = (New-Object -ComObject 'WSMan.Automation').CreateSession()
    @{ xml = [string]$session.Get('http://schemas.microsoft.com/wbem/wsman/1/config') }
}
Invoke-Section 'winrm_listeners' {
    $session = (New-Object -ComObject 'WSMan.Automation').CreateSession()
    $enumeration = $session.Enumerate('http://schemas.microsoft.com/wbem/wsman/1/config/listener')
    $items = New-Object System.Collections.ArrayList
    while (-not $enumeration.AtEndOfStream) { [void]$items.Add([string]$enumeration.ReadItem()) }
    @{ items = @($items) }
}
Invoke-Section 'services' {
    $found = @{}
    foreach ($name in @($request.services)) {
        $service = Get-Service -Name $name -ErrorAction SilentlyContinue
        if ($null -ne $service) { $found[$name] = @{ state = $service.Status.ToString(); start_mode = $service.StartType.ToString() } }
    }
    $found
}
Invoke-Section 'firewall_rules' {
    @(Get-NetFirewallRule -Name @($request.firewall_rules) -ErrorAction SilentlyContinue | ForEach-Object {
        @{ id = $_.Name; enabled = ($_.Enabled.ToString() -eq 'True'); direction = $_.Direction.ToString(); action = $_.Action.ToString(); profiles = $_.Profile.ToString() }
    })
}

ConvertTo-Json -Compress -Depth 12 -InputObject @{
    version = 1
    collected_at = [DateTime]::UtcNow.ToString('o')
    registry = $registry
    sections = $script:sections
}
